#include "policy/condition.hpp"

#include "policy/text.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <variant>
#include <vector>

namespace thinggate::policy {

namespace {

struct address {
    int family = 0; // 4 or 6
    std::array<unsigned char, 16> bytes{};
};

std::optional<address> parse_address(std::string_view text) {
    if (text.empty() || text.size() >= 64) {
        return std::nullopt;
    }
    char buf[64];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    address a;
    if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
        a.family = 4;
        return a;
    }
    if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
        a.family = 6;
        return a;
    }
    return std::nullopt;
}

std::optional<double> parse_number(std::string_view text) noexcept {
    double d = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
        return std::nullopt;
    }
    return d;
}

/// One condition value, prepared for the operator.
struct prepared {
    std::optional<glob> pattern;        // String*
    std::optional<arn_pattern> arn;     // Arn*
    std::optional<std::string> text;    // Bool, Null, Numeric*, IpAddress
};

bool wildcard_op(condition_op op) noexcept {
    return op == condition_op::string_like || op == condition_op::string_not_like;
}

bool string_op(condition_op op) noexcept {
    return op == condition_op::string_equals || op == condition_op::string_not_equals ||
           op == condition_op::string_like || op == condition_op::string_not_like;
}

bool arn_op(condition_op op) noexcept {
    return op == condition_op::arn_equals || op == condition_op::arn_not_equals ||
           op == condition_op::arn_like || op == condition_op::arn_not_like;
}

/// The positive form of the operator: does `key_value` match `v`?
bool positive_match(const condition_operator& o, std::string_view key_value, const prepared& v) {
    if (string_op(o.op)) {
        return v.pattern->match(key_value, o.ignore_case);
    }
    if (arn_op(o.op)) {
        return v.arn->match(key_value);
    }
    if (!v.text) {
        return false; // unresolved variable
    }
    switch (o.op) {
    case condition_op::boolean:
        return (iequals(*v.text, "true") || iequals(*v.text, "false")) &&
               iequals(key_value, *v.text);
    case condition_op::ip_address:
    case condition_op::not_ip_address:
        return ip_in_cidr(key_value, *v.text);
    case condition_op::numeric_equals:
    case condition_op::numeric_not_equals:
    case condition_op::numeric_less_than:
    case condition_op::numeric_less_than_equals:
    case condition_op::numeric_greater_than:
    case condition_op::numeric_greater_than_equals: {
        const auto k = parse_number(key_value);
        const auto c = parse_number(*v.text);
        if (!k || !c) {
            return false;
        }
        switch (o.op) {
        case condition_op::numeric_equals:
        case condition_op::numeric_not_equals:
            return *k == *c;
        case condition_op::numeric_less_than:
            return *k < *c;
        case condition_op::numeric_less_than_equals:
            return *k <= *c;
        case condition_op::numeric_greater_than:
            return *k > *c;
        case condition_op::numeric_greater_than_equals:
            return *k >= *c;
        default:
            return false;
        }
    }
    default:
        return false;
    }
}

} // namespace

bool ip_in_cidr(std::string_view addr_text, std::string_view cidr) noexcept {
    std::string_view net_text = cidr;
    std::optional<unsigned> bits;
    if (const auto slash = cidr.find('/'); slash != std::string_view::npos) {
        net_text = cidr.substr(0, slash);
        const std::string_view b = cidr.substr(slash + 1);
        unsigned n = 0;
        const auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), n);
        if (ec != std::errc{} || end != b.data() + b.size() || b.empty()) {
            return false;
        }
        bits = n;
    }
    const auto net = parse_address(net_text);
    const auto addr = parse_address(addr_text);
    if (!net || !addr || net->family != addr->family) {
        return false;
    }
    const unsigned width = net->family == 4 ? 32 : 128;
    const unsigned prefix = bits.value_or(width);
    if (prefix > width) {
        return false;
    }
    for (unsigned i = 0; i < prefix; ++i) {
        const unsigned mask = 0x80u >> (i % 8);
        if ((net->bytes[i / 8] & mask) != (addr->bytes[i / 8] & mask)) {
            return false;
        }
    }
    return true;
}

bool condition_holds(const condition& c, const key_values& key, substituter& subst) {
    const auto& o = c.oper;
    if (o.op == condition_op::null) {
        // Null: "true" asks for an absent key, "false" for a present one.
        const bool absent = !key.present;
        for (const auto& raw : c.values) {
            const auto v = subst.text(raw);
            if (v && ((iequals(*v, "true") && absent) || (iequals(*v, "false") && !absent))) {
                return true;
            }
        }
        return false;
    }
    const bool negated = is_negated(o.op);
    if (!key.present || key.values.empty()) {
        if (o.if_exists) {
            return true;
        }
        switch (o.qualifier) {
        case set_qualifier::for_all_values:
            return true;
        case set_qualifier::for_any_value:
            return false;
        case set_qualifier::none:
            return negated;
        }
    }
    std::vector<prepared> values;
    values.reserve(c.values.size());
    for (const auto& raw : c.values) {
        prepared p;
        if (string_op(o.op)) {
            p.pattern = subst.pattern(raw, wildcard_op(o.op));
        } else if (arn_op(o.op)) {
            p.arn = subst.arn(raw);
        } else {
            p.text = subst.text(raw);
        }
        values.push_back(std::move(p));
    }
    auto satisfies = [&](std::string_view kv) {
        bool any = false;
        for (const auto& v : values) {
            any = any || positive_match(o, kv, v);
        }
        return negated ? !any : any;
    };
    if (o.qualifier == set_qualifier::for_all_values) {
        for (const auto& kv : key.values) {
            if (!satisfies(kv)) {
                return false;
            }
        }
        return true;
    }
    // ForAnyValue, and a key without a qualifier (single-valued, or treated as ForAnyValue).
    for (const auto& kv : key.values) {
        if (satisfies(kv)) {
            return true;
        }
    }
    return false;
}

} // namespace thinggate::policy
