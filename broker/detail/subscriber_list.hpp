#pragma once
// broker/detail/subscriber_list: the normal subscriptions of one trie node (one filter).
// Owns: one entry per subscriber, with a hash index once the list grows large.
// Thread safety: none; guarded by whoever owns the subscription_index.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

namespace thinggate::broker::detail {

template <class T>
concept std_hashable = requires(const T& t) {
    { std::hash<T>{}(t) } -> std::convertible_to<std::size_t>;
};

/// A vector of (subscriber, data) pairs in which a subscriber appears at most once. Small lists
/// are searched linearly; a list that reaches `index_threshold` entries also keeps a hash index
/// subscriber → position (when std::hash<Subscriber> exists), so that a filter with very many
/// subscribers (a fleet-wide "cmd/all") does not make insert and erase quadratic.
template <class Subscriber, class Data>
class subscriber_list {
public:
    using entry = std::pair<Subscriber, Data>;
    static constexpr std::size_t index_threshold = 32;

    const std::vector<entry>& entries() const noexcept { return entries_; }

    bool empty() const noexcept { return entries_.empty(); }

    std::size_t size() const noexcept { return entries_.size(); }

    /// Adds or replaces; true when it was new.
    bool insert_or_assign(const Subscriber& s, const Data& d) {
        if (const std::size_t at = position(s); at != npos) {
            entries_[at].second = d;
            return false;
        }
        entries_.emplace_back(s, d);
        if constexpr (std_hashable<Subscriber>) {
            if (index_) {
                index_->emplace(s, static_cast<std::uint32_t>(entries_.size() - 1));
            } else if (entries_.size() >= index_threshold) {
                build_index();
            }
        }
        return true;
    }

    /// Removes; false when absent. Order is not kept (the last entry moves into the hole).
    bool erase(const Subscriber& s) {
        const std::size_t at = position(s);
        if (at == npos) {
            return false;
        }
        const std::size_t last = entries_.size() - 1;
        if constexpr (std_hashable<Subscriber>) {
            if (index_) {
                index_->erase(s);
                if (at != last) {
                    (*index_)[entries_[last].first] = static_cast<std::uint32_t>(at);
                }
            }
        }
        if (at != last) {
            entries_[at] = std::move(entries_[last]);
        }
        entries_.pop_back();
        if constexpr (std_hashable<Subscriber>) {
            if (index_ && entries_.size() < index_threshold / 2) {
                index_.reset();
            }
        }
        if (entries_.empty()) {
            entries_.shrink_to_fit();
        }
        return true;
    }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    std::size_t position(const Subscriber& s) const {
        if constexpr (std_hashable<Subscriber>) {
            if (index_) {
                const auto it = index_->find(s);
                return it == index_->end() ? npos : it->second;
            }
        }
        for (std::size_t i = 0; i < entries_.size(); ++i) {
            if (entries_[i].first == s) {
                return i;
            }
        }
        return npos;
    }

    void build_index() {
        if constexpr (std_hashable<Subscriber>) {
            index_ = std::make_unique<index_map>();
            index_->reserve(entries_.size() * 2);
            for (std::size_t i = 0; i < entries_.size(); ++i) {
                index_->emplace(entries_[i].first, static_cast<std::uint32_t>(i));
            }
        }
    }

    struct no_index {};

    using index_map = std::conditional_t<
            std_hashable<Subscriber>,
            boost::unordered_flat_map<Subscriber, std::uint32_t, std::hash<Subscriber>>,
            no_index>;

    std::vector<entry> entries_;
    std::unique_ptr<index_map> index_;
};

} // namespace thinggate::broker::detail
