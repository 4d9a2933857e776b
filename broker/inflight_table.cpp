#include "broker/inflight_table.hpp"

#include <algorithm>
#include <memory>
#include <new>

namespace thinggate::broker {

namespace {
constexpr std::size_t initial_capacity = 4;
/// An emptied table this small is kept (≤ 8 slots, ~0.6 KiB: a session with a few messages in
/// flight at a time allocates nothing per message); a larger one is given back.
constexpr std::size_t kept_capacity = 8;
} // namespace

std::size_t inflight_table::slot_of(std::uint16_t id) const noexcept {
    if (capacity_ == 0 || id == 0) {
        return capacity_;
    }
    const std::size_t mask = capacity_ - 1;
    for (std::size_t k = home(id);; k = (k + 1) & mask) {
        const std::uint16_t v = ids_[k];
        if (v == id) {
            return k;
        }
        if (v == 0) {
            return capacity_;
        }
    }
}

inflight_table::iterator inflight_table::find(std::uint16_t id) noexcept {
    const std::size_t k = slot_of(id);
    if (k == capacity_) {
        return end();
    }
    return {slots_ + k, slots_ + capacity_};
}

bool inflight_table::contains(std::uint16_t id) const noexcept { return slot_of(id) != capacity_; }

void inflight_table::free_block(entry* slots, std::size_t capacity) noexcept {
    if (slots == nullptr) {
        return;
    }
    std::destroy_n(slots, capacity);
    ::operator delete(static_cast<void*>(slots));
}

void inflight_table::grow() {
    static_assert(
            alignof(entry) >= alignof(std::uint16_t) &&
            alignof(entry) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    const std::size_t old_capacity = capacity_;
    entry* old = slots_;
    const std::uint16_t* old_ids = ids_;
    capacity_ = old_capacity == 0 ? std::max(initial_capacity, last_capacity_) : old_capacity * 2;
    // Entries and ids in one block (a table that drains and refills allocates once).
    const std::size_t bytes = (sizeof(entry) + sizeof(std::uint16_t)) * capacity_;
    slots_ = static_cast<entry*>(::operator new(bytes));
    std::uninitialized_value_construct_n(slots_, capacity_);
    ids_ = reinterpret_cast<std::uint16_t*>(slots_ + capacity_);
    std::uninitialized_fill_n(ids_, capacity_, std::uint16_t{0}); // every slot empty
    const std::size_t mask = capacity_ - 1;
    for (std::size_t i = 0; i < old_capacity; ++i) {
        if (old_ids[i] == 0) {
            continue;
        }
        std::size_t k = home(old_ids[i]);
        while (ids_[k] != 0) {
            k = (k + 1) & mask;
        }
        slots_[k] = std::move(old[i]);
        ids_[k] = old_ids[i];
    }
    free_block(old, old_capacity);
}

inflight_delivery& inflight_table::operator[](std::uint16_t id) {
    const std::size_t found = slot_of(id);
    if (found != capacity_) {
        return slots_[found].second;
    }
    if ((size_ + 1) * 2 > capacity_) {
        grow(); // load factor at most one half
    }
    const std::size_t mask = capacity_ - 1;
    std::size_t k = home(id);
    while (ids_[k] != 0) {
        k = (k + 1) & mask;
    }
    ids_[k] = id;
    slots_[k].first = id;
    slots_[k].second = inflight_delivery{};
    ++size_;
    return slots_[k].second;
}

void inflight_table::erase(iterator it) noexcept {
    const std::size_t mask = capacity_ - 1;
    auto hole = static_cast<std::size_t>(it.p_ - slots_);
    slots_[hole].first = 0;
    slots_[hole].second = inflight_delivery{};
    ids_[hole] = 0;
    --size_;
    // Backward-shift deletion: move later entries of the probe run into the hole when their
    // home slot allows it, so that lookups never need tombstones.
    for (std::size_t k = (hole + 1) & mask; ids_[k] != 0; k = (k + 1) & mask) {
        const std::size_t h = home(ids_[k]);
        // Does the entry at k, whose home is h, stay reachable if moved to `hole`? Yes when
        // `hole` lies cyclically in [h, k).
        const bool movable = hole <= k ? (h <= hole || h > k) : (h <= hole && h > k);
        if (movable) {
            slots_[hole] = std::move(slots_[k]);
            ids_[hole] = ids_[k];
            slots_[k].first = 0;
            slots_[k].second = inflight_delivery{};
            ids_[k] = 0;
            hole = k;
        }
    }
    if (size_ == 0 && capacity_ > kept_capacity) {
        const std::size_t was = capacity_;
        clear(); // an idle session does not keep a burst's slots
        last_capacity_ = was;
    }
}

void inflight_table::clear() noexcept {
    free_block(slots_, capacity_);
    slots_ = nullptr;
    ids_ = nullptr;
    capacity_ = 0;
    size_ = 0;
}

} // namespace thinggate::broker
