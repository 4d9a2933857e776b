#pragma once
// broker/subscription_index: topic filter → subscribers, matched against topic names.
// Owns: the matching structure (a trie of levels). Must not use: I/O, locks (the broker guards it).
// Thread safety: not synchronised. Concurrent const calls (match) are safe; mutation needs exclusive
// access. Round-robin state of shared groups is atomic so match() may advance it under a shared lock.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/packet.hpp"
#include "mqtt/topic.hpp"

namespace thinggate::broker {

/// What a subscription carries besides its subscriber.
struct subscription_data {
    mqtt::subscribe_options options;
    std::uint32_t subscription_id = 0; ///< 0 = none
};

/// Members of one shared subscription group ("$share/{group}/{filter}") for one filter.
template <class Subscriber>
struct shared_group {
    std::string group;
    std::vector<std::pair<Subscriber, subscription_data>> members;
    mutable std::atomic<std::uint32_t> next{0}; ///< round-robin cursor
};

/// Subscriber must be copyable and equality comparable (the broker uses shared_ptr<session>).
/// Implementation: header-only trie keyed by level, with separate children for '+' and '#'.
template <class Subscriber>
class subscription_index {
public:
    /// Adds or replaces (same subscriber, same filter, same share group) a subscription.
    /// `filter` is the plain filter (without "$share/g/"); `share_group` empty for a normal one.
    /// Returns true when it was new, false when it replaced an existing one [MQTT-3.8.4-3].
    bool insert(std::string_view filter, std::string_view share_group, const Subscriber& s,
                const subscription_data& d);

    /// Removes it; returns false when there was none.
    bool erase(std::string_view filter, std::string_view share_group, const Subscriber& s);

    /// Calls `on_normal(const Subscriber&, const subscription_data&)` for each matching normal
    /// subscription and `on_shared(const shared_group<Subscriber>&)` once per matching share group.
    /// Topics starting with '$' are not matched by filters starting with '+' or '#'.
    template <class OnNormal, class OnShared>
    void match(std::string_view topic, mqtt::match_options opts, OnNormal&& on_normal,
               OnShared&& on_shared) const;

    std::size_t size() const noexcept; ///< number of subscriptions (shared members included)
};

} // namespace thinggate::broker
