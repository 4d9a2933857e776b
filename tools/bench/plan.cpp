#include "tools/bench/plan.hpp"

namespace thinggate::bench {

namespace {

std::string client_id(std::string_view run_id, char kind, std::uint32_t index) {
    std::string id = "tgb";
    id += run_id;
    id += kind;
    id += std::to_string(index);
    return id;
}

} // namespace

run_plan make_plan(const options& o, std::string_view run_id) {
    run_plan plan;
    plan.topic_root = o.topic_prefix + "/" + std::string(run_id);
    unsigned next_thread = 0;
    auto add = [&](connection_plan c) {
        c.thread = next_thread;
        next_thread = (next_thread + 1) % o.threads;
        plan.connections.push_back(std::move(c));
    };
    // One subscriber hears every publisher: give it a thread of its own when there are two.
    const bool reader_alone =
            (o.kind == scenario::fan_in || o.kind == scenario::backlog) && o.threads >= 2;
    auto add_publisher = [&](connection_plan c) {
        if (!reader_alone) {
            add(std::move(c));
            return;
        }
        c.thread = 1 + next_thread % (o.threads - 1);
        next_thread = (next_thread + 1) % (o.threads - 1);
        plan.connections.push_back(std::move(c));
    };

    if (!o.publishes()) {
        const bool storm = o.kind == scenario::storm;
        for (std::uint32_t i = 0; i < o.connections; ++i) {
            connection_plan c;
            c.role = storm ? role::connector : role::idler;
            c.index = i;
            c.client_id = client_id(run_id, storm ? 'c' : 'i', i);
            add(std::move(c));
        }
        return plan;
    }

    plan.publishers = o.publishers;
    plan.subscribers = o.subscribers;
    const std::string in = plan.topic_root + "/in/";
    const std::string out = plan.topic_root + "/out";
    const std::string pair = plan.topic_root + "/pair/";
    const std::string backlog = plan.topic_root + "/backlog/";

    for (std::uint32_t i = 0; i < o.subscribers; ++i) {
        connection_plan c;
        c.role = role::subscriber;
        c.index = i;
        c.client_id = client_id(run_id, 's', i);
        switch (o.kind) {
        case scenario::fan_in:
            c.topic = in + "+";
            c.first_publisher = 0;
            c.publisher_count = o.publishers;
            break;
        case scenario::fan_out:
            c.topic = out;
            c.first_publisher = 0;
            c.publisher_count = 1;
            break;
        case scenario::backlog:
            c.topic = backlog + "+";
            c.first_publisher = 0;
            c.publisher_count = o.publishers;
            c.persistent = true;
            break;
        default: // pairs, latency
            c.topic = pair + std::to_string(i);
            c.first_publisher = i;
            c.publisher_count = 1;
            break;
        }
        add(std::move(c));
    }
    if (reader_alone) {
        next_thread = 0;
    }

    const double interval = o.rate > 0 ? static_cast<double>(o.publishers) / o.rate : 0.0;
    plan.fanout.assign(o.publishers, 0);
    for (std::uint32_t i = 0; i < o.publishers; ++i) {
        connection_plan c;
        c.role = role::publisher;
        c.index = i;
        c.client_id = client_id(run_id, 'p', i);
        c.interval_s = interval;
        if (o.max_messages > 0) {
            c.quota = o.max_messages / o.publishers + (i < o.max_messages % o.publishers ? 1 : 0);
        }
        switch (o.kind) {
        case scenario::fan_in:
            c.topic = in + std::to_string(i);
            plan.fanout[i] = 1;
            break;
        case scenario::fan_out:
            c.topic = out;
            plan.fanout[i] = o.subscribers;
            break;
        case scenario::backlog:
            c.topic = backlog + std::to_string(i);
            plan.fanout[i] = 1;
            break;
        default:
            c.topic = pair + std::to_string(i);
            plan.fanout[i] = 1;
            break;
        }
        add_publisher(std::move(c));
    }
    return plan;
}

std::uint64_t expected_deliveries(const run_plan& plan, const std::vector<std::uint64_t>& sent) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < plan.fanout.size() && i < sent.size(); ++i) {
        total += sent[i] * plan.fanout[i];
    }
    return total;
}

} // namespace thinggate::bench
