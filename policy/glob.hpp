#pragma once
// policy/glob: the wildcard patterns of the policy language ('*' = any run of characters,
// '?' = exactly one character, everything else literal), built once and matched without allocation.
// Thread safety: a built glob is immutable; matching is const and safe from any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace thinggate::policy {

class glob {
public:
    enum class kind : std::uint8_t {
        literal,
        any_run, ///< '*'
        any_one, ///< '?'
    };

    /// A glob that matches nothing (an unresolved policy variable).
    static glob never();

    /// `text` with '*' and '?' as wildcards (when `wildcards`) or all literal.
    static glob from_text(std::string_view text, bool wildcards = true);

    void append_literal(std::string_view text);
    void append_any_run();
    void append_any_one();
    void set_never() noexcept { never_ = true; }

    bool matches_nothing() const noexcept { return never_; }
    bool empty() const noexcept { return kinds_.empty(); }

    /// True when `subject` matches. With `ignore_case`, ASCII letters compare case-insensitively.
    /// '?' consumes one UTF-8 character; '*' any run, including '/' and ':'.
    bool match(std::string_view subject, bool ignore_case = false) const noexcept {
        if (never_) {
            return false;
        }
        if (!ignore_case) {
            // Fast paths, inline: a plain string, a lone '*', a literal prefix that does not fit.
            if (!wildcards_) {
                return std::string_view(text_) == subject;
            }
            if (kinds_.size() == 1) {
                return kinds_[0] == kind::any_run || match_general(subject, false);
            }
            if (subject.size() < prefix_ || subject.compare(0, prefix_, text_, 0, prefix_) != 0) {
                return false;
            }
        }
        return match_general(subject, ignore_case);
    }

    /// The pattern as text, literal '*', '?' and '$' written as ${*}, ${?}, ${$} (for explain).
    std::string to_string() const;

private:
    void note_wildcard() noexcept;
    bool match_general(std::string_view subject, bool ignore_case) const noexcept;

    std::string text_;          ///< one char per position; unused for wildcard positions
    std::vector<kind> kinds_;   ///< same length as text_
    std::size_t prefix_ = 0;    ///< literal positions before the first wildcard
    bool wildcards_ = false;    ///< any wildcard at all (false: plain string comparison)
    bool never_ = false;
};

} // namespace thinggate::policy
