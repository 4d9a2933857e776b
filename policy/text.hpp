#pragma once
// policy/text: small text helpers shared by the policy sources (ARN fields, ASCII case folding,
// UTF-8 steps). Internal to policy/. No allocation.
// Thread safety: pure functions; safe from any thread.

#include <array>
#include <cstddef>
#include <string_view>

namespace thinggate::policy {

/// The six colon-separated fields of an ARN; the sixth keeps any further colons.
using arn_fields = std::array<std::string_view, 6>;

/// Splits `arn` into its 6 fields. With `skip_variables`, colons inside "${...}" do not split
/// (a variable such as ${iot:ClientId} stays in one field). False when there are fewer than 6.
bool split_arn(std::string_view arn, bool skip_variables, arn_fields& out) noexcept;

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept;

/// Length in bytes of the UTF-8 sequence starting with `lead` (1 for invalid lead bytes).
std::size_t utf8_length(char lead) noexcept;

} // namespace thinggate::policy
