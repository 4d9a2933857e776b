#pragma once
// broker/frame_head: the bytes an out_frame owns (a PUBLISH head, an acknowledgement, a control
// packet, or a run of whole small packets appended one after another), stored inline up to
// `inline_capacity` bytes so that a delivery's head costs no heap allocation; longer heads
// (large topics, many properties) and runs go to the heap.
// Owns: a small byte buffer. Must not use: I/O.
// Thread safety: a plain value.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace thinggate::broker {

class frame_head {
public:
    /// Enough for the head of a PUBLISH with a topic of ~50 bytes and a few properties, and for
    /// every acknowledgement without a reason string.
    static constexpr std::size_t inline_capacity = 64;

    frame_head() noexcept = default;
    frame_head(std::string_view s) { assign(s); }        // NOLINT: implicit, like a string
    frame_head(const std::string& s) { assign(s); }      // NOLINT
    frame_head(const char* s) { assign(std::string_view(s)); } // NOLINT
    frame_head(const frame_head& o) { assign(o.view()); }
    frame_head(frame_head&& o) noexcept { take(o); }
    frame_head& operator=(const frame_head& o) {
        if (this != &o) {
            assign(o.view());
        }
        return *this;
    }
    frame_head& operator=(frame_head&& o) noexcept {
        if (this != &o) {
            heap_.reset();
            heap_capacity_ = 0;
            take(o);
        }
        return *this;
    }
    ~frame_head() = default;

    const char* data() const noexcept { return heap_ ? heap_.get() : inline_; }
    char* data() noexcept { return heap_ ? heap_.get() : inline_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    bool on_heap() const noexcept { return heap_ != nullptr; }
    std::string_view view() const noexcept { return {data(), size_}; }
    operator std::string_view() const noexcept { return view(); } // NOLINT: reads like a string

    void clear() noexcept { size_ = 0; }

    /// Replaces the contents with `s` (`s` must not point into this buffer).
    void assign(std::string_view s) {
        char* p = room(s.size());
        if (!s.empty()) {
            std::memcpy(p, s.data(), s.size());
        }
        size_ = static_cast<std::uint32_t>(s.size());
    }

    /// Capacity for at least `n` bytes in all, the contents kept.
    void reserve(std::size_t n) {
        if (n > capacity()) {
            regrow(n);
        }
    }

    /// `n` more bytes at the end (contents kept, growing the buffer geometrically); returns
    /// where they go. The caller writes all `n` of them.
    char* extend(std::size_t n) {
        const std::size_t need = size_ + n;
        if (need > capacity()) {
            regrow(std::max(need, 2 * capacity()));
        }
        char* p = data() + size_;
        size_ = static_cast<std::uint32_t>(need);
        return p;
    }

    /// Appends `s` (`s` must not point into this buffer).
    void append(std::string_view s) {
        if (!s.empty()) {
            std::memcpy(extend(s.size()), s.data(), s.size());
        }
    }

    std::size_t capacity() const noexcept { return heap_ ? heap_capacity_ : inline_capacity; }

    friend bool operator==(const frame_head& a, std::string_view b) noexcept { return a.view() == b; }

private:
    /// A heap buffer of `n` bytes holding the contents.
    void regrow(std::size_t n) {
        auto fresh = std::make_unique_for_overwrite<char[]>(n);
        if (size_ != 0) {
            std::memcpy(fresh.get(), data(), size_);
        }
        heap_ = std::move(fresh);
        heap_capacity_ = static_cast<std::uint32_t>(n);
    }
    /// Room for `n` bytes (contents not kept).
    char* room(std::size_t n) {
        if (n <= inline_capacity && !heap_) {
            return inline_;
        }
        if (heap_ && n <= heap_capacity_) {
            return heap_.get();
        }
        heap_ = std::make_unique_for_overwrite<char[]>(n);
        heap_capacity_ = static_cast<std::uint32_t>(n);
        return heap_.get();
    }
    void take(frame_head& o) noexcept {
        size_ = o.size_;
        if (o.heap_) {
            heap_ = std::move(o.heap_);
            heap_capacity_ = o.heap_capacity_;
            o.heap_capacity_ = 0;
        } else if (size_ != 0) {
            std::memcpy(inline_, o.inline_, size_);
        }
        o.size_ = 0;
    }

    char inline_[inline_capacity];
    std::uint32_t size_ = 0;
    std::uint32_t heap_capacity_ = 0;
    std::unique_ptr<char[]> heap_;
};

} // namespace thinggate::broker
