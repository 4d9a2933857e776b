#include "mqtt/topic.hpp"

#include <algorithm>

namespace thinggate::mqtt {
namespace {

constexpr std::string_view share_prefix = "$share/";

/// Plain filter syntax, without the "$share" rules.
bool valid_plain_filter(std::string_view filter) noexcept {
    if (filter.empty()) {
        return false;
    }
    const std::size_t n = filter.size();
    for (std::size_t i = 0; i < n; ++i) {
        const char c = filter[i];
        if (c == '\0') {
            return false;
        }
        if (c != '+' && c != '#') {
            continue;
        }
        // A wildcard must be the whole level: preceded by '/' or the start, followed by '/' or
        // the end [MQTT-4.7.1-2]; '#' must also be the last character [MQTT-4.7.1-1].
        const bool starts_level = i == 0 || filter[i - 1] == '/';
        const bool ends_level = i + 1 == n || filter[i + 1] == '/';
        if (!starts_level || !ends_level) {
            return false;
        }
        if (c == '#' && i + 1 != n) {
            return false;
        }
    }
    return true;
}

} // namespace

bool valid_topic_name(std::string_view topic) noexcept {
    if (topic.empty()) {
        return false;
    }
    return std::none_of(
            topic.begin(), topic.end(), [](char c) { return c == '+' || c == '#' || c == '\0'; });
}

bool valid_topic_filter(std::string_view filter) noexcept {
    if (!valid_plain_filter(filter)) {
        return false;
    }
    // The group level cannot contain wildcards here: "$share/+/x" passes the plain check, so the
    // shared form is checked on its own [MQTT-4.8.2-1..2].
    const auto shared = parse_shared(filter);
    return !shared || !shared->filter.empty();
}

std::optional<shared_filter> parse_shared(std::string_view filter) noexcept {
    if (!filter.starts_with(share_prefix)) {
        return std::nullopt;
    }
    const std::string_view rest = filter.substr(share_prefix.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
        return shared_filter{rest, {}}; // "$share/g": no filter
    }
    const std::string_view group = rest.substr(0, slash);
    const std::string_view inner = rest.substr(slash + 1);
    const bool group_ok = !group.empty() && group.find_first_of("+#") == std::string_view::npos;
    if (!group_ok) {
        return shared_filter{group, {}};
    }
    return shared_filter{group, inner};
}

bool topic_matches(std::string_view filter, std::string_view topic, match_options opts) noexcept {
    // [MQTT-4.7.2-1] a wildcard first level never matches a topic starting with '$'.
    if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
        (filter.front() == '+' || filter.front() == '#')) {
        return false;
    }
    constexpr auto npos = std::string_view::npos;
    std::size_t fpos = 0;
    std::size_t tpos = 0;
    bool topic_done = false; // every level of the topic has been consumed
    for (;;) {
        std::size_t fend = filter.find('/', fpos);
        if (fend == npos) {
            fend = filter.size();
        }
        const std::string_view flevel = filter.substr(fpos, fend - fpos);
        if (flevel == "#") {
            // '#' matches any number of remaining levels, and also the parent level itself.
            return !topic_done || opts.hash_matches_parent;
        }
        if (topic_done) {
            return false;
        }
        std::size_t tend = topic.find('/', tpos);
        if (tend == npos) {
            tend = topic.size();
        }
        if (flevel != "+" && flevel != topic.substr(tpos, tend - tpos)) {
            return false;
        }
        const bool filter_last = fend == filter.size();
        const bool topic_last = tend == topic.size();
        if (filter_last) {
            return topic_last;
        }
        fpos = fend + 1;
        if (topic_last) {
            topic_done = true;
        } else {
            tpos = tend + 1;
        }
    }
}

std::size_t level_count(std::string_view topic_or_filter) noexcept {
    return static_cast<std::size_t>(
                   std::count(topic_or_filter.begin(), topic_or_filter.end(), '/')) +
           1;
}

} // namespace thinggate::mqtt
