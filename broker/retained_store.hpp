#pragma once
// broker/retained_store: the last retained message per topic, looked up by filter.
// Owns: retained messages in memory. Must not use: I/O, locks (the broker guards it).
// Thread safety: not synchronised; const calls may run concurrently, mutation needs exclusive access.

#include <cstddef>
#include <functional>
#include <map>
#include <string_view>

#include "broker/message.hpp"
#include "mqtt/topic.hpp"

namespace thinggate::broker {

/// Implementation: an ordered map topic → message (the key views the message's own topic, so a
/// topic is stored once). A wildcard filter is matched by a skip scan: the literal prefix narrows
/// the range and each mismatching level seeks past the keys that cannot match, so "a/b/#" reads
/// only "a/b..." and "dt/+/+/telemetry" seeks to the "telemetry" entry of each device.
class retained_store {
public:
    /// Stores `m` for m->topic, replacing the previous one; an empty payload deletes it
    /// [MQTT-3.3.1-6..7]. Returns true when the store changed.
    bool set(message_ptr m);

    /// Retained message for exactly `topic` (nullptr when none or expired at `now`).
    message_ptr find(std::string_view topic, clock::time_point now) const;

    /// Calls `fn` for each stored, unexpired message whose topic matches `filter` (wildcards as in
    /// mqtt::topic_matches, including the '$' rule). Order: by topic.
    void match(std::string_view filter, mqtt::match_options opts, clock::time_point now,
               const std::function<void(const message_ptr&)>& fn) const;

    /// Drops expired messages; returns how many.
    std::size_t purge_expired(clock::time_point now);

    /// Stored messages, expired ones not yet purged included.
    std::size_t size() const noexcept;

private:
    std::map<std::string_view, message_ptr, std::less<>> by_topic_;
};

} // namespace thinggate::broker
