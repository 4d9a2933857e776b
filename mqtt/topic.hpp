#pragma once
// mqtt/topic: topic name and topic filter rules and matching (MQTT 5.0 §4.7, §4.8.2).
// Owns: syntax and matching of topics. Must not use: I/O, allocation on the match path.
// Thread safety: pure functions; safe from any thread.

#include <optional>
#include <string_view>

namespace thinggate::mqtt {

/// Topic name: at least one character, no '+' or '#' [MQTT-3.3.2-2], no U+0000.
/// (UTF-8 well-formedness is the codec's check.)
bool valid_topic_name(std::string_view topic) noexcept;

/// Topic filter: non-empty; '#' only as the whole last level [MQTT-4.7.1-1]; '+' only as a whole
/// level [MQTT-4.7.1-2]; no U+0000. A "$share/..." filter must also satisfy valid_shared_filter.
bool valid_topic_filter(std::string_view filter) noexcept;

/// A shared subscription "$share/{group}/{filter}" split in its parts.
struct shared_filter {
    std::string_view group;
    std::string_view filter;
};

/// Returns the parts when `filter` starts with "$share/". nullopt when it is not a shared filter.
/// A malformed shared filter (empty or wildcard group, missing filter) gives a shared_filter whose
/// `filter` is empty; callers treat that as topic_filter_invalid [MQTT-4.8.2-1..2].
std::optional<shared_filter> parse_shared(std::string_view filter) noexcept;

struct match_options {
    /// MQTT: "sport/#" matches "sport" [MQTT-4.7.1-2 note]. The aws-iot profile says it does not.
    bool hash_matches_parent = true;
};

/// True when `topic` matches `filter`. Topics starting with '$' are never matched by a filter whose
/// first level is '+' or '#' [MQTT-4.7.2-1]. Both arguments must already be valid.
bool topic_matches(std::string_view filter, std::string_view topic, match_options opts = {}) noexcept;

/// Number of '/'-separated levels ("a/b" = 2, "" = 1).
std::size_t level_count(std::string_view topic_or_filter) noexcept;

} // namespace thinggate::mqtt
