#include "broker/retained_store.hpp"

#include <string>

namespace thinggate::broker {
namespace {

constexpr auto npos = std::string_view::npos;
constexpr int linear_seek_steps = 8;

enum class verdict {
    match, ///< the key matches the filter
    next,  ///< no match; the next key may match
    seek,  ///< no match; no key below `seek` can match
    stop,  ///< no later key can match
};

/// Compares `key` with `filter` level by level. On a mismatch that rules out a whole range of keys,
/// fills `seek` with the smallest key that could still match (always greater than `key`).
///
/// Why the seeks are safe: the keys sharing the prefix P (levels 0..i-1 and a '/') are contiguous,
/// and among them the ones whose level i equals the literal f are P+f itself and the range
/// [P+f+"/", P+f+"0"), because '0' follows '/' in ASCII.
verdict
examine(std::string_view filter,
        std::string_view key,
        mqtt::match_options opts,
        std::string& seek) {
    if (!key.empty() && key.front() == '$' && (filter.front() == '+' || filter.front() == '#')) {
        seek.assign(1, '%'); // [MQTT-4.7.2-1]: skip every topic starting with '$' ('%' follows it)
        return verdict::seek;
    }
    std::size_t fpos = 0;
    std::size_t kpos = 0;
    bool key_done = false;
    for (;;) {
        std::size_t fend = filter.find('/', fpos);
        if (fend == npos) {
            fend = filter.size();
        }
        const std::string_view flevel = filter.substr(fpos, fend - fpos);
        if (flevel == "#") {
            if (!key_done || opts.hash_matches_parent) {
                return verdict::match;
            }
            return verdict::next; // the parent itself; its children follow
        }
        if (key_done) {
            return verdict::next; // key shorter than the filter; longer keys with it as prefix
                                  // follow
        }
        std::size_t kend = key.find('/', kpos);
        if (kend == npos) {
            kend = key.size();
        }
        if (flevel != "+" && flevel != key.substr(kpos, kend - kpos)) {
            const std::string_view prefix = key.substr(0, kpos);
            seek.assign(prefix);
            seek.append(flevel);
            if (std::string_view(seek) > key) {
                return verdict::seek;
            }
            seek.push_back('/');
            if (std::string_view(seek) > key) {
                return verdict::seek;
            }
            if (kpos == 0) {
                return verdict::stop;
            }
            // Nothing more under this prefix: go past it ("x/y/" → "x/y0").
            seek.assign(prefix.substr(0, kpos - 1));
            seek.push_back('0');
            return verdict::seek;
        }
        const bool filter_last = fend == filter.size();
        const bool key_last = kend == key.size();
        if (filter_last) {
            if (key_last) {
                return verdict::match;
            }
            // Key longer than the filter: skip every key below key[0, kend] + '/'.
            seek.assign(key.substr(0, kend));
            seek.push_back('0');
            return verdict::seek;
        }
        fpos = fend + 1;
        if (key_last) {
            key_done = true;
        } else {
            kpos = kend + 1;
        }
    }
}

} // namespace

bool retained_store::set(message_ptr m) {
    if (!m) {
        return false;
    }
    const auto it = by_topic_.find(m->topic);
    if (m->payload.empty()) { // [MQTT-3.3.1-6]: an empty retained message deletes
        if (it == by_topic_.end()) {
            return false;
        }
        by_topic_.erase(it);
        return true;
    }
    if (it == by_topic_.end()) {
        const std::string_view key = m->topic;
        by_topic_.emplace(key, std::move(m));
        return true;
    }
    // The key views the old message's topic: re-point it at the new one before the old one can be
    // freed. extract/insert keeps the tree node, so this does not allocate.
    auto node = by_topic_.extract(it);
    node.key() = m->topic;
    node.mapped() = std::move(m);
    by_topic_.insert(std::move(node));
    return true;
}

message_ptr retained_store::find(std::string_view topic, clock::time_point now) const {
    const auto it = by_topic_.find(topic);
    if (it == by_topic_.end() || it->second->expired(now)) {
        return nullptr;
    }
    return it->second;
}

void retained_store::match(
        std::string_view filter,
        mqtt::match_options opts,
        clock::time_point now,
        const std::function<void(const message_ptr&)>& fn) const {
    if (filter.empty()) {
        return;
    }
    const std::size_t wildcard = filter.find_first_of("+#");
    if (wildcard == npos) {
        if (auto m = find(filter, now)) {
            fn(m);
        }
        return;
    }
    // Every match starts with the literal levels before the first wildcard; for "a/b/#" the parent
    // "a/b" matches too, so the range starts there.
    std::string_view start = filter.substr(0, wildcard);
    if (filter[wildcard] == '#' && opts.hash_matches_parent && wildcard > 0) {
        start.remove_suffix(1);
    }
    std::string seek;
    auto it = by_topic_.lower_bound(start);
    while (it != by_topic_.end() && it->first.starts_with(start)) {
        switch (examine(filter, it->first, opts, seek)) {
        case verdict::match:
            if (!it->second->expired(now)) {
                fn(it->second);
            }
            ++it;
            break;
        case verdict::next:
            ++it;
            break;
        case verdict::seek: {
            // The target is usually a few entries ahead (the next leaf of the same device): walk
            // there before paying for a lookup from the root of the tree.
            const std::string_view target = seek;
            int steps = 0;
            do {
                ++it;
            } while (++steps < linear_seek_steps && it != by_topic_.end() && it->first < target);
            if (it != by_topic_.end() && it->first < target) {
                it = by_topic_.lower_bound(target);
            }
            break;
        }
        case verdict::stop:
            return;
        }
    }
}

std::size_t retained_store::purge_expired(clock::time_point now) {
    return std::erase_if(
            by_topic_, [now](const auto& entry) { return entry.second->expired(now); });
}

std::size_t retained_store::size() const noexcept {
    return by_topic_.size();
}

} // namespace thinggate::broker
