// libFuzzer target for the policy language: arbitrary text parsed as a policy document (operator
// input, later the control plane's); whatever parses is compiled with a connection's variables and
// evaluated and explained for every data-plane action against resources cut from the input.
// Nothing may crash, leak or trip a sanitizer, and evaluate() must agree with explain().
// Seed corpus: tests/fuzz/corpus/policy (the documents of tests/unit/policy and docs/policies.md).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/policy.hpp"

namespace {

namespace policy = thinggate::policy;

policy::context make_context() {
    policy::context ctx;
    ctx.client_id = "thing-1";
    ctx.source_ip = "10.0.0.7";
    ctx.domain_name = "gateway.example";
    policy::certificate_info cert;
    cert.id = std::string(64, 'a');
    cert.serial_number = "1234";
    cert.subject = {{"CommonName", "thing-1"}, {"Organization", "Acme"}, {"OrganizationalUnit", "a*b"}};
    cert.issuer = {{"CommonName", "CA"}};
    cert.subject_alternative_name.dns_name = {"thing-1.devices.example"};
    ctx.certificate = cert;
    ctx.thing = policy::thing_info{"thing-1", "sensor", {{"site", "north"}}};
    ctx.persistent_session = true;
    ctx.will_topic = "things/thing-1/will";
    return ctx;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = policy::parse_policy(text);
    if (!parsed) {
        if (parsed.error().message.empty()) {
            std::fprintf(stderr, "policy_fuzz: a refusal without a message\n");
            std::abort();
        }
        return 0;
    }
    static const policy::context ctx = make_context();
    const policy::policy_document doc = std::move(parsed).value();
    const std::vector<policy::policy_ref> refs{{"fuzz", "1", &doc}};
    const auto set = policy::compile(refs, ctx);
    policy::arn_builder arns(ctx.names);
    // Names to try: fixed ones, and slices of the input (so wildcards and odd bytes get matched).
    std::string_view names[] = {"thing-1", "things/thing-1/data", "things/+/data", "#", "$share/g/a/#",
                                text.substr(0, std::min<std::size_t>(text.size(), 40)),
                                text.substr(text.size() / 2)};
    for (auto a : {policy::action::connect, policy::action::publish, policy::action::retain_publish,
                   policy::action::subscribe, policy::action::receive}) {
        for (auto name : names) {
            const std::string resource(arns.for_action(a, name));
            const auto d = set.evaluate(a, resource);
            const auto why = set.explain(a, resource);
            if (why.result != d) {
                std::fprintf(stderr, "policy_fuzz: evaluate and explain disagree on %s\n", resource.c_str());
                std::abort();
            }
            (void)why.to_string();
        }
    }
    return 0;
}
