#include "broker/message.hpp"

#include <array>
#include <cstring>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TG_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define TG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define TG_POISON(p, n) ((void)(p), (void)(n))
#define TG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace thinggate::broker {

namespace {

// Message blocks freed on a thread are kept there for the next make_message of a similar size.
// A shard has thousands of messages in flight at once (fan-in QoS 1: the subscriber's queue and
// window), freed and made again in bursts of hundreds to thousands (megabytes), and glibc's
// malloc handled the ~0.7 KiB blocks through its bins (_int_malloc, unlink_chunk, _int_free:
// ~11 % of the broker's CPU in the fan-in QoS 1 profile): hence a cache of a few MiB, not of a
// few blocks. A block freed on another shard than its own goes to that shard's cache: the blocks
// are plain ::operator new memory, any thread may reuse them.
constexpr std::size_t granule = 64;
constexpr std::size_t cached_classes = 32; // blocks up to 2 KiB

struct free_block {
    free_block* next;
};

struct block_cache {
    std::array<free_block*, cached_classes> heads{};
    std::size_t bytes = 0;

    block_cache() = default;
    block_cache(const block_cache&) = delete;
    block_cache& operator=(const block_cache&) = delete;
    ~block_cache();
};

constinit thread_local bool cache_gone = false; // the thread's cache was destroyed (thread exit)
thread_local block_cache cache;

block_cache::~block_cache() {
    for (auto& head : heads) {
        while (head != nullptr) {
            free_block* b = head;
            TG_UNPOISON(b, sizeof(free_block));
            head = b->next;
            ::operator delete(static_cast<void*>(b));
        }
    }
    bytes = 0;
    cache_gone = true; // messages freed later on this thread (static destructors) skip the cache
}

/// Size class of a block of `n` bytes; cached_classes when too large to cache.
std::size_t class_of(std::size_t n) noexcept {
    return n == 0 ? 0 : (n - 1) / granule;
}

void* allocate_block(std::size_t n) {
    const std::size_t c = class_of(n);
    if (c >= cached_classes) {
        return ::operator new(n);
    }
    if (!cache_gone) {
        if (free_block* b = cache.heads[c]) {
            TG_UNPOISON(b, (c + 1) * granule);
            cache.heads[c] = b->next;
            cache.bytes -= (c + 1) * granule;
            return b;
        }
    }
    return ::operator new((c + 1) * granule);
}

void free_block_of(void* p, std::size_t n) noexcept {
    const std::size_t c = class_of(n);
    if (c >= cached_classes || cache_gone || cache.bytes + (c + 1) * granule > message_cache_bytes) {
        ::operator delete(p);
        return;
    }
    auto* b = static_cast<free_block*>(p);
    b->next = cache.heads[c];
    cache.heads[c] = b;
    cache.bytes += (c + 1) * granule;
    TG_POISON(b, (c + 1) * granule);
}

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
        char* p = static_cast<char*>(allocate_block(n * sizeof(T) + extra));
        *tail = p + n * sizeof(T);
        return reinterpret_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t n) noexcept {
        free_block_of(static_cast<void*>(p), n * sizeof(T) + extra);
    }

    template <typename U>
    bool operator==(const trailing_allocator<U>& o) const noexcept {
        return extra == o.extra;
    }

    std::size_t extra;
    char** tail; ///< only used during allocate()
};

} // namespace

const mqtt::properties message::no_properties{};

namespace {

bool any_forwarded(const mqtt::properties& p) noexcept {
    return p.payload_format_indicator || p.content_type || p.response_topic || p.correlation_data ||
           !p.user_properties.empty();
}

} // namespace

void message::set_props(mqtt::properties&& p) {
    if (!any_forwarded(p)) {
        props_.reset();
        return;
    }
    auto f = std::make_unique<mqtt::properties>();
    f->payload_format_indicator = p.payload_format_indicator;
    f->content_type = std::move(p.content_type);
    f->response_topic = std::move(p.response_topic);
    f->correlation_data = std::move(p.correlation_data);
    f->user_properties = std::move(p.user_properties);
    props_ = std::move(f);
}

void message::set_props(const mqtt::properties& p) {
    if (!any_forwarded(p)) {
        props_.reset();
        return;
    }
    auto f = std::make_unique<mqtt::properties>();
    f->payload_format_indicator = p.payload_format_indicator;
    f->content_type = p.content_type;
    f->response_topic = p.response_topic;
    f->correlation_data = p.correlation_data;
    f->user_properties = p.user_properties;
    props_ = std::move(f);
}

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

std::size_t cached_message_bytes() noexcept {
    return cache_gone ? 0 : cache.bytes;
}

} // namespace thinggate::broker
