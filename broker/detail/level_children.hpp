#pragma once
// broker/detail/level_children: the literal children of one trie node, keyed by level.
// Owns: the child nodes. Must not use: I/O.
// Thread safety: none; const calls may run concurrently.

#include <algorithm>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

namespace thinggate::broker::detail {

/// Transparent hash so that a level is looked up by string_view without a std::string temporary.
struct level_hash {
    using is_transparent = void;

    std::size_t operator()(std::string_view level) const noexcept {
        return std::hash<std::string_view>{}(level);
    }
};

/// Most trie nodes have one or two children (the levels below a device id), a few have thousands
/// (the device ids below "dt/fleet42"). A hash table's first allocation (15 slots, ~600 bytes)
/// would dominate the memory of the small ones, so up to `small_max` children live in a vector
/// searched linearly and larger sets in a flat hash map with heterogeneous lookup.
template <class Node>
class level_children {
public:
    static constexpr std::size_t small_max = 8;

    bool empty() const noexcept { return few_.empty() && !many_; }

    Node* find(std::string_view level) const noexcept {
        if (many_) {
            const auto it = many_->find(level);
            return it == many_->end() ? nullptr : it->second.get();
        }
        for (const auto& [key, child] : few_) {
            if (key == level) {
                return child.get();
            }
        }
        return nullptr;
    }

    Node& find_or_create(std::string_view level) {
        if (Node* n = find(level)) {
            return *n;
        }
        auto child = std::make_unique<Node>();
        Node& ref = *child;
        if (!many_ && few_.size() < small_max) {
            few_.emplace_back(std::string(level), std::move(child));
            return ref;
        }
        if (!many_) {
            many_ = std::make_unique<map_type>();
            many_->reserve(small_max * 2);
            for (auto& [key, c] : few_) {
                many_->emplace(std::move(key), std::move(c));
            }
            few_.clear();
            few_.shrink_to_fit();
        }
        many_->emplace(std::string(level), std::move(child));
        return ref;
    }

    void erase(std::string_view level) noexcept {
        if (many_) {
            if (const auto it = many_->find(level); it != many_->end()) {
                many_->erase(it);
            }
            if (many_->size() <= small_max / 2) {
                // Back to the small form (hysteresis: not at small_max, to avoid flapping).
                few_.reserve(many_->size());
                for (auto& [key, c] : *many_) {
                    few_.emplace_back(key, std::move(c));
                }
                many_.reset();
            }
            return;
        }
        const auto it = std::find_if(
                few_.begin(), few_.end(), [&](const auto& entry) { return entry.first == level; });
        if (it != few_.end()) {
            if (it != std::prev(few_.end())) {
                *it = std::move(few_.back());
            }
            few_.pop_back();
        }
    }

    template <class F>
    void for_each(F&& f) const {
        if (many_) {
            for (const auto& [key, c] : *many_) {
                f(std::string_view(key), *c);
            }
        } else {
            for (const auto& [key, c] : few_) {
                f(std::string_view(key), *c);
            }
        }
    }

private:
    using map_type = boost::
            unordered_flat_map<std::string, std::unique_ptr<Node>, level_hash, std::equal_to<>>;

    std::vector<std::pair<std::string, std::unique_ptr<Node>>> few_;
    std::unique_ptr<map_type> many_;
};

} // namespace thinggate::broker::detail
