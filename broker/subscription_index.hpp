#pragma once
// broker/subscription_index: topic filter → subscribers, matched against topic names.
// Owns: the matching structure (a trie of levels). Must not use: I/O, locks (the broker guards it).
// Thread safety: not synchronised. Concurrent const calls (match) are safe; mutation needs
// exclusive access. Round-robin state of shared groups is atomic so match() may advance it under a
// shared lock.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/detail/level_children.hpp"
#include "broker/detail/subscriber_list.hpp"
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

namespace detail {

/// One level of the trie: the filter that ends here is the path from the root.
template <class Subscriber>
struct subscription_node {
    level_children<subscription_node> children;          ///< literal next levels
    std::unique_ptr<subscription_node> plus;             ///< next level '+'
    std::unique_ptr<subscription_node> hash;             ///< next level '#' (always a leaf)
    subscriber_list<Subscriber, subscription_data> subs; ///< normal subscriptions
    std::vector<std::unique_ptr<shared_group<Subscriber>>> groups; ///< "$share/{group}/..."

    bool empty() const noexcept {
        return children.empty() && !plus && !hash && subs.empty() && groups.empty();
    }
};

} // namespace detail

/// Subscriber must be copyable and equality comparable (the broker uses shared_ptr<session>).
/// When std::hash<Subscriber> exists, a filter with many subscribers gets a hash index so insert
/// and erase stay O(1) per subscription.
/// Implementation: header-only trie keyed by level, with separate children for '+' and '#'.
template <class Subscriber>
class subscription_index {
public:
    subscription_index()
        : root_(std::make_unique<node>()) {}

    /// Adds or replaces (same subscriber, same filter, same share group) a subscription.
    /// `filter` is the plain filter (without "$share/g/"); `share_group` empty for a normal one.
    /// Returns true when it was new, false when it replaced an existing one [MQTT-3.8.4-3].
    bool
    insert(std::string_view filter,
           std::string_view share_group,
           const Subscriber& s,
           const subscription_data& d);

    /// Removes it; returns false when there was none. Nodes left empty are removed.
    bool erase(std::string_view filter, std::string_view share_group, const Subscriber& s);

    /// Calls `on_normal(const Subscriber&, const subscription_data&)` for each matching normal
    /// subscription and `on_shared(const shared_group<Subscriber>&)` once per matching share group.
    /// Topics starting with '$' are not matched by filters starting with '+' or '#'.
    /// Does not allocate unless the topic diverges into more than 32 pending '+' branches.
    /// The callbacks must not modify the index.
    template <class OnNormal, class OnShared>
    void
    match(std::string_view topic,
          mqtt::match_options opts,
          OnNormal&& on_normal,
          OnShared&& on_shared) const;

    std::size_t size() const noexcept { return size_; } ///< subscriptions (shared members included)

    /// Trie nodes including the root, found by a full walk: O(nodes). For tests (pruning) and
    /// memory figures, not for the hot path.
    std::size_t node_count() const;

private:
    using node = detail::subscription_node<Subscriber>;

    /// Where `level` of a filter leads from `n` (nullptr when absent).
    static node* child(const node& n, std::string_view level) noexcept;
    static node& child_or_create(node& n, std::string_view level);
    static void remove_child(node& parent, std::string_view level) noexcept;

    std::unique_ptr<node> root_;
    std::size_t size_ = 0;
};

// ---- implementation ------------------------------------------------------------------------

template <class Subscriber>
auto subscription_index<Subscriber>::child(const node& n, std::string_view level) noexcept
        -> node* {
    if (level == "+") {
        return n.plus.get();
    }
    if (level == "#") {
        return n.hash.get();
    }
    return n.children.find(level);
}

template <class Subscriber>
auto subscription_index<Subscriber>::child_or_create(node& n, std::string_view level) -> node& {
    if (level == "+" || level == "#") {
        auto& slot = level == "+" ? n.plus : n.hash;
        if (!slot) {
            slot = std::make_unique<node>();
        }
        return *slot;
    }
    return n.children.find_or_create(level);
}

template <class Subscriber>
void subscription_index<Subscriber>::remove_child(node& parent, std::string_view level) noexcept {
    if (level == "+") {
        parent.plus.reset();
    } else if (level == "#") {
        parent.hash.reset();
    } else {
        parent.children.erase(level);
    }
}

template <class Subscriber>
bool subscription_index<Subscriber>::insert(
        std::string_view filter,
        std::string_view share_group,
        const Subscriber& s,
        const subscription_data& d) {
    node* n = root_.get();
    std::size_t pos = 0;
    for (;;) {
        std::size_t end = filter.find('/', pos);
        if (end == std::string_view::npos) {
            end = filter.size();
        }
        n = &child_or_create(*n, filter.substr(pos, end - pos));
        if (end == filter.size()) {
            break;
        }
        pos = end + 1;
    }

    bool added = false;
    if (share_group.empty()) {
        added = n->subs.insert_or_assign(s, d);
    } else {
        auto git = std::find_if(n->groups.begin(), n->groups.end(), [&](const auto& g) {
            return g->group == share_group;
        });
        if (git == n->groups.end()) {
            auto g = std::make_unique<shared_group<Subscriber>>();
            g->group = std::string(share_group);
            n->groups.push_back(std::move(g));
            git = std::prev(n->groups.end());
        }
        auto& members = (*git)->members;
        auto mit = std::find_if(
                members.begin(), members.end(), [&](const auto& m) { return m.first == s; });
        if (mit == members.end()) {
            members.emplace_back(s, d);
            added = true;
        } else {
            mit->second = d;
        }
    }
    if (added) {
        ++size_;
    }
    return added;
}

template <class Subscriber>
bool subscription_index<Subscriber>::erase(
        std::string_view filter, std::string_view share_group, const Subscriber& s) {
    // path[i] = (node reached after level i, that level); path.front() is the root.
    std::vector<std::pair<node*, std::string_view>> path;
    path.reserve(mqtt::level_count(filter) + 1);
    path.emplace_back(root_.get(), std::string_view{});
    std::size_t pos = 0;
    for (;;) {
        std::size_t end = filter.find('/', pos);
        if (end == std::string_view::npos) {
            end = filter.size();
        }
        const std::string_view level = filter.substr(pos, end - pos);
        node* next = child(*path.back().first, level);
        if (next == nullptr) {
            return false;
        }
        path.emplace_back(next, level);
        if (end == filter.size()) {
            break;
        }
        pos = end + 1;
    }

    node& target = *path.back().first;
    if (share_group.empty()) {
        if (!target.subs.erase(s)) {
            return false;
        }
    } else {
        const auto git =
                std::find_if(target.groups.begin(), target.groups.end(), [&](const auto& g) {
                    return g->group == share_group;
                });
        if (git == target.groups.end()) {
            return false;
        }
        auto& members = (*git)->members;
        const auto mit = std::find_if(
                members.begin(), members.end(), [&](const auto& m) { return m.first == s; });
        if (mit == members.end()) {
            return false;
        }
        members.erase(mit);
        if (members.empty()) {
            target.groups.erase(git);
        }
    }
    --size_;

    // Prune the nodes this left empty, deepest first; the root stays.
    for (std::size_t i = path.size() - 1; i > 0 && path[i].first->empty(); --i) {
        remove_child(*path[i - 1].first, path[i].second);
    }
    return true;
}

template <class Subscriber>
std::size_t subscription_index<Subscriber>::node_count() const {
    std::size_t count = 0;
    std::vector<const node*> pending{root_.get()};
    while (!pending.empty()) {
        const node* n = pending.back();
        pending.pop_back();
        ++count;
        n->children.for_each([&](std::string_view, const node& c) { pending.push_back(&c); });
        if (n->plus) {
            pending.push_back(n->plus.get());
        }
        if (n->hash) {
            pending.push_back(n->hash.get());
        }
    }
    return count;
}

template <class Subscriber>
template <class OnNormal, class OnShared>
void subscription_index<Subscriber>::match(
        std::string_view topic,
        mqtt::match_options opts,
        OnNormal&& on_normal,
        OnShared&& on_shared) const {
    // Depth-first walk with an explicit stack (no recursion: a deep topic cannot exhaust the
    // thread's stack). A frame is a node reached after consuming the topic up to `pos`; `done`
    // means every level of the topic has been consumed.
    struct frame {
        const node* n;
        std::size_t pos;
        bool done;
    };

    constexpr std::size_t inline_depth = 32;
    std::array<frame, inline_depth> inline_frames;
    std::size_t inline_top = 0;
    std::vector<frame> overflow; // only used past inline_depth pending branches
    const auto push = [&](const node* n, std::size_t pos, bool done) {
        if (inline_top < inline_depth) {
            inline_frames[inline_top++] = frame{n, pos, done};
        } else {
            overflow.push_back(frame{n, pos, done});
        }
    };
    const auto deliver = [&](const node& n) {
        for (const auto& [sub, data] : n.subs.entries()) {
            on_normal(sub, data);
        }
        for (const auto& g : n.groups) {
            on_shared(*g);
        }
    };

    // [MQTT-4.7.2-1] the root's '+' and '#' children never match a topic starting with '$'.
    const bool dollar = !topic.empty() && topic.front() == '$';
    push(root_.get(), 0, false);
    while (inline_top > 0 || !overflow.empty()) {
        frame f;
        if (!overflow.empty()) {
            f = overflow.back();
            overflow.pop_back();
        } else {
            f = inline_frames[--inline_top];
        }
        const node& n = *f.n;
        if (f.done) {
            deliver(n);
            if (n.hash && opts.hash_matches_parent) {
                deliver(*n.hash); // "sport/#" matches "sport"
            }
            continue;
        }
        std::size_t end = topic.find('/', f.pos);
        if (end == std::string_view::npos) {
            end = topic.size();
        }
        const bool last = end == topic.size();
        const std::size_t next_pos = last ? end : end + 1;
        if (!(dollar && f.n == root_.get())) {
            if (n.hash) {
                deliver(*n.hash); // at least one level remains
            }
            if (n.plus) {
                push(n.plus.get(), next_pos, last);
            }
        }
        if (const node* c = n.children.find(topic.substr(f.pos, end - f.pos))) {
            push(c, next_pos, last);
        }
    }
}

} // namespace thinggate::broker
