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
    bool match(std::string_view subject, bool ignore_case = false) const noexcept;

    /// The pattern as text, literal '*', '?' and '$' written as ${*}, ${?}, ${$} (for explain).
    std::string to_string() const;

private:
    std::string text_;          ///< one char per position; unused for wildcard positions
    std::vector<kind> kinds_;   ///< same length as text_
    bool never_ = false;
};

} // namespace thinggate::policy
