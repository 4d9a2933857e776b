#include "broker/target_set.hpp"

#include <algorithm>
#include <bit>

namespace thinggate::broker {

void target_set::clear() noexcept {
    targets_.clear();
    if (indexed_) {
        std::fill(slots_.begin(), slots_.end(), 0u);
        indexed_ = false;
    }
}

std::size_t target_set::slot_of(const session* s) const noexcept {
    // Fibonacci hashing of the pointer (its low bits are alignment).
    const auto h = (reinterpret_cast<std::uintptr_t>(s) >> 4) * 0x9E3779B97F4A7C15ull;
    const auto bits = std::countr_zero(slots_.size());
    return static_cast<std::size_t>(h >> (64 - bits));
}

std::size_t target_set::find(const session* s) const noexcept {
    if (!indexed_) {
        for (std::size_t i = 0; i < targets_.size(); ++i) {
            if (targets_[i].s.get() == s) {
                return i;
            }
        }
        return targets_.size();
    }
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t k = slot_of(s);; k = (k + 1) & mask) {
        const std::uint32_t v = slots_[k];
        if (v == 0) {
            return targets_.size();
        }
        if (targets_[v - 1].s.get() == s) {
            return v - 1;
        }
    }
}

void target_set::index_insert(std::size_t i) noexcept {
    const std::size_t mask = slots_.size() - 1;
    std::size_t k = slot_of(targets_[i].s.get());
    while (slots_[k] != 0) {
        k = (k + 1) & mask;
    }
    slots_[k] = static_cast<std::uint32_t>(i + 1);
}

void target_set::rebuild_index(std::size_t capacity) {
    const std::size_t size = std::bit_ceil(std::max<std::size_t>(capacity * 2, 32));
    if (slots_.size() < size) {
        slots_.assign(size, 0u);
    } else {
        std::fill(slots_.begin(), slots_.end(), 0u);
    }
    indexed_ = true;
    for (std::size_t i = 0; i < targets_.size(); ++i) {
        index_insert(i);
    }
}

void target_set::add(const session_ptr& s, mqtt::qos q, bool retain, std::uint32_t subscription_id) {
    const std::size_t i = find(s.get());
    if (i == targets_.size()) {
        // In place: no temporary to move and destroy. (Not emplace_back(s, q, retain): clang 14,
        // which builds the fuzz targets, has no parenthesized aggregate initialization.)
        route_target& t = targets_.emplace_back();
        t.s = s;
        t.qos = q;
        t.retain = retain;
        if (subscription_id != 0) {
            targets_.back().subscription_ids.push_back(subscription_id);
        }
        if (indexed_) {
            if (targets_.size() * 2 > slots_.size()) {
                rebuild_index(targets_.size()); // keeps the load factor at most one half
            } else {
                index_insert(i);
            }
        } else if (targets_.size() > linear_limit) {
            rebuild_index(targets_.size());
        }
        return;
    }
    // Overlapping subscriptions: one delivery, the highest QoS, every identifier [MQTT-3.3.4-2..5].
    auto& t = targets_[i];
    if (q > t.qos) {
        t.qos = q;
    }
    t.retain = t.retain || retain;
    if (subscription_id != 0) {
        t.subscription_ids.push_back(subscription_id);
    }
}

} // namespace thinggate::broker
