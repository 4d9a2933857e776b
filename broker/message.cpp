#include "broker/message.hpp"

#include <cstring>
#include <new>

namespace thinggate::broker {

namespace {

/// Allocates the shared_ptr control block (with the message in it) and `extra` bytes after it,
/// in one block; tells where the extra bytes are through `tail`.
template <typename T>
struct trailing_allocator {
    using value_type = T;

    trailing_allocator(std::size_t extra_bytes, char** tail_out) noexcept
        : extra(extra_bytes)
        , tail(tail_out) {}
    template <typename U>
    trailing_allocator(const trailing_allocator<U>& o) noexcept // NOLINT: rebinding
        : extra(o.extra)
        , tail(o.tail) {}

    T* allocate(std::size_t n) {
        char* p = static_cast<char*>(::operator new(n * sizeof(T) + extra));
        *tail = p + n * sizeof(T);
        return reinterpret_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(static_cast<void*>(p)); }

    template <typename U>
    bool operator==(const trailing_allocator<U>& o) const noexcept {
        return extra == o.extra;
    }

    std::size_t extra;
    char** tail; ///< only used during allocate()
};

} // namespace

std::shared_ptr<message> make_message(std::string_view topic, std::string_view payload) {
    char* tail = nullptr;
    auto m = std::allocate_shared<message>(trailing_allocator<message>(topic.size() + payload.size(), &tail));
    if (!topic.empty()) {
        std::memcpy(tail, topic.data(), topic.size());
    }
    if (!payload.empty()) {
        std::memcpy(tail + topic.size(), payload.data(), payload.size());
    }
    m->topic = message_bytes(tail, topic.size());
    m->payload = message_bytes(tail + topic.size(), payload.size());
    return m;
}

} // namespace thinggate::broker
