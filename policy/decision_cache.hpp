#pragma once
// policy/decision_cache: a connection's small cache of decisions keyed by (action, resource),
// bounded in size, dropped whole when the connection's policies change.
// Thread safety: owned by one connection; not thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/compiled.hpp"
#include "policy/resource.hpp"

namespace thinggate::policy {

class decision_cache {
public:
    /// Resources longer than this are evaluated every time rather than cached.
    static constexpr std::size_t max_resource_size = 512;

    /// `capacity` entries (rounded up to a power of two, at least 2), two-way set associative:
    /// a new entry replaces the less recently used of its two slots.
    explicit decision_cache(std::size_t capacity = 64);

    std::optional<decision> find(action a, std::string_view resource) noexcept;

    /// Remembers a decision. Reuses the slot's string: no allocation once slots have grown.
    void insert(action a, std::string_view resource, decision d);

    /// The cached decision, or `policies.evaluate(a, resource)` remembered.
    decision evaluate(const compiled_policy_set& policies, action a, std::string_view resource);

    /// Forgets every decision (policy, attachment or certificate change); keeps the memory.
    void clear() noexcept;

    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return slots_.size(); }

private:
    struct slot {
        std::uint64_t hash = 0;
        std::string resource;
        action act = action::connect;
        decision result = decision::implicit_deny;
        bool used = false;
        bool recent = false;
    };

    static std::uint64_t hash_of(action a, std::string_view resource) noexcept;
    slot* lookup(std::uint64_t h, action a, std::string_view resource) noexcept;

    std::vector<slot> slots_;
    std::size_t size_ = 0;
};

} // namespace thinggate::policy
