#include "policy/text.hpp"

namespace thinggate::policy {

bool split_arn(std::string_view arn, bool skip_variables, arn_fields& out) noexcept {
    std::size_t field = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i < arn.size() && field < 5; ++i) {
        if (skip_variables && arn[i] == '$' && i + 1 < arn.size() && arn[i + 1] == '{') {
            const auto close = arn.find('}', i + 2);
            if (close == std::string_view::npos) {
                break;
            }
            i = close;
            continue;
        }
        if (arn[i] == ':') {
            out[field++] = arn.substr(start, i - start);
            start = i + 1;
        }
    }
    if (field != 5) {
        return false;
    }
    out[5] = arn.substr(start);
    return true;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::size_t utf8_length(char lead) noexcept {
    const auto u = static_cast<unsigned char>(lead);
    if (u < 0x80) {
        return 1;
    }
    if ((u & 0xE0) == 0xC0) {
        return 2;
    }
    if ((u & 0xF0) == 0xE0) {
        return 3;
    }
    if ((u & 0xF8) == 0xF0) {
        return 4;
    }
    return 1;
}

} // namespace thinggate::policy
