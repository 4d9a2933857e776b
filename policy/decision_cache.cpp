#include "policy/decision_cache.hpp"

namespace thinggate::policy {

decision_cache::decision_cache(std::size_t capacity) {
    std::size_t n = 2;
    while (n < capacity) {
        n *= 2;
    }
    slots_.resize(n);
}

std::uint64_t decision_cache::hash_of(action a, std::string_view resource) noexcept {
    // FNV-1a: short keys, no allocation, good enough spread for a 2-way cache.
    std::uint64_t h = 14695981039346656037ull ^ static_cast<std::uint64_t>(a);
    for (const char c : resource) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    return h;
}

decision_cache::slot* decision_cache::lookup(std::uint64_t h, action a,
                                             std::string_view resource) noexcept {
    const std::size_t base = (h & (slots_.size() / 2 - 1)) * 2;
    for (std::size_t i = base; i < base + 2; ++i) {
        auto& s = slots_[i];
        if (s.used && s.hash == h && s.act == a && s.resource == resource) {
            s.recent = true;
            slots_[i ^ 1].recent = false;
            return &s;
        }
    }
    return nullptr;
}

std::optional<decision> decision_cache::find(action a, std::string_view resource) noexcept {
    if (auto* s = lookup(hash_of(a, resource), a, resource)) {
        return s->result;
    }
    return std::nullopt;
}

void decision_cache::insert(action a, std::string_view resource, decision d) {
    if (resource.size() > max_resource_size) {
        return;
    }
    const auto h = hash_of(a, resource);
    if (auto* s = lookup(h, a, resource)) {
        s->result = d;
        return;
    }
    const std::size_t base = (h & (slots_.size() / 2 - 1)) * 2;
    std::size_t victim = base;
    if (slots_[base].used && (!slots_[base + 1].used || slots_[base].recent)) {
        victim = base + 1;
    }
    auto& s = slots_[victim];
    if (!s.used) {
        ++size_;
    }
    s.hash = h;
    s.resource.assign(resource);
    s.act = a;
    s.result = d;
    s.used = true;
    s.recent = true;
    slots_[victim ^ 1].recent = false;
}

decision decision_cache::evaluate(const compiled_policy_set& policies, action a,
                                  std::string_view resource) {
    if (const auto d = find(a, resource)) {
        return *d;
    }
    const auto d = policies.evaluate(a, resource);
    insert(a, resource, d);
    return d;
}

void decision_cache::clear() noexcept {
    for (auto& s : slots_) {
        s.used = false;
        s.recent = false;
    }
    size_ = 0;
}

} // namespace thinggate::policy
