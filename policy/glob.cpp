#include "policy/glob.hpp"

#include "policy/text.hpp"

namespace thinggate::policy {

glob glob::never() {
    glob g;
    g.never_ = true;
    return g;
}

glob glob::from_text(std::string_view text, bool wildcards) {
    glob g;
    g.text_.reserve(text.size());
    g.kinds_.reserve(text.size());
    for (const char c : text) {
        if (wildcards && c == '*') {
            g.append_any_run();
        } else if (wildcards && c == '?') {
            g.append_any_one();
        } else {
            g.append_literal(std::string_view(&c, 1));
        }
    }
    return g;
}

void glob::append_literal(std::string_view text) {
    text_.append(text);
    kinds_.insert(kinds_.end(), text.size(), kind::literal);
    if (!wildcards_) {
        prefix_ += text.size();
    }
}

void glob::note_wildcard() noexcept {
    wildcards_ = true;
}

void glob::append_any_run() {
    // "**" is "*": collapsing keeps the matcher's backtracking short.
    if (!kinds_.empty() && kinds_.back() == kind::any_run) {
        return;
    }
    note_wildcard();
    text_.push_back('*');
    kinds_.push_back(kind::any_run);
}

void glob::append_any_one() {
    note_wildcard();
    text_.push_back('?');
    kinds_.push_back(kind::any_one);
}

bool glob::match_general(std::string_view s, bool ignore_case) const noexcept {
    const std::size_t m = kinds_.size();
    const std::size_t n = s.size();
    std::size_t p = ignore_case ? 0 : prefix_;
    std::size_t i = p;
    std::size_t star_p = std::string::npos;
    std::size_t star_i = 0;
    // Greedy match with one backtrack point (the last '*'): linear in practice, O(n*m) at worst.
    // Subject positions advance by whole UTF-8 characters so that '?' is one character.
    while (i < n) {
        if (p < m && kinds_[p] == kind::any_one) {
            i += utf8_length(s[i]);
            ++p;
        } else if (p < m && kinds_[p] == kind::literal &&
                   (ignore_case ? ascii_lower(text_[p]) == ascii_lower(s[i]) : text_[p] == s[i])) {
            ++i;
            ++p;
        } else if (p < m && kinds_[p] == kind::any_run) {
            star_p = p++;
            star_i = i;
        } else if (star_p != std::string::npos) {
            p = star_p + 1;
            star_i += utf8_length(s[star_i]);
            i = star_i;
        } else {
            return false;
        }
    }
    if (i > n) {
        return false; // a '?' ran past a truncated UTF-8 sequence
    }
    while (p < m && kinds_[p] == kind::any_run) {
        ++p;
    }
    return p == m;
}

std::string glob::to_string() const {
    if (never_) {
        return "<matches nothing>";
    }
    std::string out;
    for (std::size_t i = 0; i < kinds_.size(); ++i) {
        switch (kinds_[i]) {
        case kind::any_run:
            out += '*';
            break;
        case kind::any_one:
            out += '?';
            break;
        case kind::literal:
            if (text_[i] == '*' || text_[i] == '?' || text_[i] == '$') {
                out += "${";
                out += text_[i];
                out += '}';
            } else {
                out += text_[i];
            }
            break;
        }
    }
    return out;
}

} // namespace thinggate::policy
