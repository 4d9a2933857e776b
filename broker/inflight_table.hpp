#pragma once
// broker/inflight_table: a session's outbound QoS 1/2 messages waiting for their
// acknowledgement, by packet id. Open addressing (linear probing, backward-shift deletion) over
// a power-of-two array: no heap node per delivery, unlike std::map. The packet ids are also kept
// in an array of their own, which probing reads: 2 bytes per slot instead of an ~80-byte entry,
// so a probe run or a backward shift touches a cache line or two and an entry is read only once
// found (with a window of 1 024 in flight the entries are ~160 KiB, mostly out of cache). The
// names follow std::map's where the callers use them (operator[], find, erase, contains, entries
// with .first/.second).
// Owns: the entries. Must not use: I/O.
// Thread safety: none (a session's state is touched on its shard only).
//
// Inserting (operator[]) may move entries, and erase() moves the entries after the erased one:
// references and iterators into the table are valid only until the next insert or erase.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "broker/session_types.hpp"

namespace thinggate::broker {

class inflight_table {
public:
    struct entry {
        std::uint16_t first = 0; ///< packet id; 0 = an empty slot (0 is never a packet id)
        inflight_delivery second;
    };

    template <typename E>
    class basic_iterator {
    public:
        basic_iterator(E* p, E* end) noexcept
            : p_(p)
            , end_(end) {
            skip();
        }
        E& operator*() const noexcept { return *p_; }
        E* operator->() const noexcept { return p_; }
        basic_iterator& operator++() noexcept {
            ++p_;
            skip();
            return *this;
        }
        friend bool operator==(const basic_iterator& a, const basic_iterator& b) noexcept { return a.p_ == b.p_; }

    private:
        friend class inflight_table;
        void skip() noexcept {
            while (p_ != end_ && p_->first == 0) {
                ++p_;
            }
        }
        E* p_;
        E* end_;
    };
    using iterator = basic_iterator<entry>;
    using const_iterator = basic_iterator<const entry>;

    inflight_table() = default;
    ~inflight_table() { clear(); }
    inflight_table(const inflight_table&) = delete;
    inflight_table& operator=(const inflight_table&) = delete;

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

    iterator begin() noexcept { return {slots_, slots_ + capacity_}; }

    iterator end() noexcept { return {slots_ + capacity_, slots_ + capacity_}; }

    const_iterator begin() const noexcept { return {slots_, slots_ + capacity_}; }

    const_iterator end() const noexcept { return {slots_ + capacity_, slots_ + capacity_}; }

    iterator find(std::uint16_t id) noexcept;
    bool contains(std::uint16_t id) const noexcept;
    /// The delivery for `id`, default-constructed when new. `id` must not be 0.
    inflight_delivery& operator[](std::uint16_t id);
    /// Removes the entry at `it` (which must be valid).
    void erase(iterator it) noexcept;
    /// Removes everything and gives the memory back.
    void clear() noexcept;
    /// Slots allocated (0 while empty).
    std::size_t capacity() const noexcept { return capacity_; }

private:
    std::size_t home(std::uint16_t id) const noexcept { return (id * 40503u) & (capacity_ - 1); }
    std::size_t slot_of(std::uint16_t id) const noexcept; ///< its slot, or capacity_ when absent
    void grow();
    /// Destroys the entries of `slots` (`capacity` of them) and frees their block.
    static void free_block(entry* slots, std::size_t capacity) noexcept;

    /// One allocation: `capacity_` entries, then `capacity_` packet ids (ids_[k] ==
    /// slots_[k].first).
    entry* slots_ = nullptr;
    std::uint16_t* ids_ = nullptr;
    std::size_t capacity_ = 0; ///< 0 or a power of two
    std::size_t size_ = 0;
    /// Capacity when a large table last emptied (and was given back): the next first insert
    /// allocates that much at once, so a window that drains to empty and fills again costs one
    /// allocation, not a cascade of growths.
    std::size_t last_capacity_ = 0;
};

} // namespace thinggate::broker
