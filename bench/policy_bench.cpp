// Micro-benchmarks of the policy engine: evaluate an allowed / explicitly denied / implicitly denied
// request against 1 or 10 policies of 10 statements that use variables; compile a connection's
// policies; the per-connection decision cache; parse a document. Counters: items/s and heap
// allocations per operation (counted by the global operator new below).

#include "policy/policy.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

namespace {
std::atomic<std::size_t> allocations{0};
} // namespace

// Out of line, so that g++ does not pair the inlined malloc/free with new/delete and warn
// (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}

[[gnu::noinline]] void operator delete(void* p) noexcept {
    std::free(p);
}

[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace {

using namespace thinggate::policy;

/// Policy `p` of 10 statements: 8 Allows on the thing's own topics (with variables; the
/// first with a condition), one Deny, one Subscribe grant.
std::string make_policy(int p) {
    const std::string a = "arn:aws:iot:*:*:";
    const std::string thing = "${iot:Connection.Thing.ThingName}";
    std::string j = R"({"Version":"2012-10-17","Statement":[)";
    for (int s = 0; s < 8; ++s) {
        j += R"({"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":[")" + a +
             "topic/p" + std::to_string(p) + "/s" + std::to_string(s) + "/" + thing + R"(/*",")" +
             a + "topic/p" + std::to_string(p) + "/s" + std::to_string(s) + R"(/${iot:ClientId}"])";
        j += s == 0 ? R"(,"Condition":{"StringLike":{"iot:ClientId":"dev-*"}}},)" : "},";
    }
    j += R"({"Effect":"Deny","Action":"iot:*","Resource":")" + a + "topic/p" + std::to_string(p) +
         R"(/admin/*"},)";
    j += R"({"Effect":"Allow","Action":"iot:Subscribe","Resource":")" + a + "topicfilter/p" +
         std::to_string(p) + "/*/" + thing + R"(/*"}]})";
    return j;
}

context make_context() {
    context ctx;
    ctx.client_id = "dev-000042";
    ctx.source_ip = "10.1.2.3";
    certificate_info cert;
    cert.id = std::string(64, 'e');
    cert.subject = {{"CommonName", "dev-000042"}, {"Organization", "Acme"}};
    ctx.certificate = cert;
    ctx.thing = thing_info{"dev-000042", "sensor", {{"fleet", "north"}}};
    return ctx;
}

struct fixture {
    std::vector<policy_document> docs;
    std::vector<policy_ref> refs;
    context ctx = make_context();

    explicit fixture(int policies) {
        for (int p = 0; p < policies; ++p) {
            auto r = parse_policy(make_policy(p));
            if (!r) {
                throw std::runtime_error(r.error().message);
            }
            docs.push_back(std::move(r).value());
        }
        for (int p = 0; p < policies; ++p) {
            refs.push_back({"policy-" + std::to_string(p), "1", &docs[static_cast<std::size_t>(p)]});
        }
    }
};

void report(benchmark::State& state, std::size_t allocs_before) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["allocs/op"] = benchmark::Counter(
            static_cast<double>(allocations.load() - allocs_before) /
            static_cast<double>(state.iterations()));
}

void bench_evaluate(benchmark::State& state, action a, const std::string& name, decision expected) {
    const fixture f(static_cast<int>(state.range(0)));
    const auto set = compile(f.refs, f.ctx);
    arn_builder arns(resource_names{});
    const std::string last = std::to_string(state.range(0) - 1);
    const std::string topic = "p" + last + name;
    if (set.evaluate(a, arns.for_action(a, topic)) != expected) {
        state.SkipWithError("unexpected decision");
        return;
    }
    const auto before = allocations.load();
    for (auto _ : state) {
        // The broker's path: build the resource in the connection's buffer, evaluate.
        const auto d = set.evaluate(a, arns.for_action(a, topic));
        benchmark::DoNotOptimize(d);
    }
    report(state, before);
}

/// Allowed by the last Allow statement of the last policy: every Deny is checked first.
void BM_Policy_EvaluateAllowed(benchmark::State& state) {
    bench_evaluate(state, action::publish, "/s7/dev-000042/telemetry", decision::allowed);
}

/// Denied by the Deny of the last policy.
void BM_Policy_EvaluateExplicitDeny(benchmark::State& state) {
    bench_evaluate(state, action::publish, "/admin/reboot", decision::explicit_deny);
}

/// No statement matches: every statement for the action is checked.
void BM_Policy_EvaluateImplicitDeny(benchmark::State& state) {
    bench_evaluate(state, action::publish, "/s7/dev-000099/telemetry", decision::implicit_deny);
}

void BM_Policy_EvaluateSubscribe(benchmark::State& state) {
    bench_evaluate(state, action::subscribe, "/jobs/dev-000042/#", decision::allowed);
}

/// The same request through the per-connection decision cache (a hit).
void BM_Policy_CacheHit(benchmark::State& state) {
    const fixture f(static_cast<int>(state.range(0)));
    const auto set = compile(f.refs, f.ctx);
    arn_builder arns(resource_names{});
    decision_cache cache;
    // Appended piecewise: g++ 12 warns falsely (-Wrestrict) on "literal" + std::to_string().
    std::string topic = "p";
    topic += std::to_string(state.range(0) - 1);
    topic += "/s7/dev-000042/t";
    cache.evaluate(set, action::publish, arns.topic(topic));
    const auto before = allocations.load();
    for (auto _ : state) {
        const auto d = cache.evaluate(set, action::publish, arns.topic(topic));
        benchmark::DoNotOptimize(d);
    }
    report(state, before);
}

/// Once per connection: resolve variables, decide conditions, pre-match actions.
void BM_Policy_Compile(benchmark::State& state) {
    const fixture f(static_cast<int>(state.range(0)));
    const auto before = allocations.load();
    for (auto _ : state) {
        auto set = compile(f.refs, f.ctx);
        benchmark::DoNotOptimize(set);
    }
    report(state, before);
}

/// Once per policy version (control plane), not per connection.
void BM_Policy_Parse(benchmark::State& state) {
    const std::string json = make_policy(0);
    const auto before = allocations.load();
    for (auto _ : state) {
        auto r = parse_policy(json);
        benchmark::DoNotOptimize(r);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * json.size()));
    report(state, before);
}

} // namespace

BENCHMARK(BM_Policy_EvaluateAllowed)->ArgName("policies")->Arg(1)->Arg(10);
BENCHMARK(BM_Policy_EvaluateExplicitDeny)->ArgName("policies")->Arg(1)->Arg(10);
BENCHMARK(BM_Policy_EvaluateImplicitDeny)->ArgName("policies")->Arg(1)->Arg(10);
BENCHMARK(BM_Policy_EvaluateSubscribe)->ArgName("policies")->Arg(1)->Arg(10);
BENCHMARK(BM_Policy_CacheHit)->ArgName("policies")->Arg(1)->Arg(10);
BENCHMARK(BM_Policy_Compile)->ArgName("policies")->Arg(1)->Arg(10);
BENCHMARK(BM_Policy_Parse);
