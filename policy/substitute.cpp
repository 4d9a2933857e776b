#include "policy/substitute.hpp"

#include "policy/text.hpp"

namespace thinggate::policy {

arn_pattern arn_pattern::any() {
    arn_pattern p;
    p.any_ = true;
    return p;
}

arn_pattern arn_pattern::never() {
    arn_pattern p;
    p.fields_[0] = glob::never();
    return p;
}

arn_pattern::arn_pattern(std::array<glob, 6> fields)
    : fields_(std::move(fields)) {}

bool arn_pattern::match(std::string_view arn) const noexcept {
    if (any_) {
        return true;
    }
    arn_fields parts;
    return match(split_arn(arn, false, parts) ? &parts : nullptr);
}

bool arn_pattern::match(const arn_fields* parts) const noexcept {
    if (any_) {
        return true;
    }
    if (parts == nullptr) {
        return false;
    }
    // The resource field first: it is the one that tells statements apart.
    for (std::size_t i = 6; i-- > 0;) {
        if (!fields_[i].match((*parts)[i])) {
            return false;
        }
    }
    return true;
}

bool arn_pattern::matches_nothing() const noexcept {
    if (any_) {
        return false;
    }
    for (const auto& f : fields_) {
        if (f.matches_nothing()) {
            return true;
        }
    }
    return false;
}

std::string arn_pattern::to_string() const {
    if (any_) {
        return "*";
    }
    if (matches_nothing()) {
        return "<matches nothing: unresolved variable>";
    }
    std::string out;
    for (std::size_t i = 0; i < 6; ++i) {
        if (i != 0) {
            out += ':';
        }
        out += fields_[i].to_string();
    }
    return out;
}

substituter::substituter(const context& ctx, policy_version version)
    : ctx_(ctx)
    , version_(version) {}

const std::optional<std::string>& substituter::resolve(std::string_view name) {
    for (const auto& v : variables_) {
        if (v.name == name) {
            return v.value;
        }
    }
    auto r = resolve_variable(ctx_, name);
    variables_.push_back({std::string(name), std::move(r.value), std::string(r.reason)});
    return variables_.back().value;
}

glob substituter::pattern(std::string_view raw, bool wildcards) {
    glob g;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const char c = raw[i];
        if (version_ == policy_version::v2012_10_17 && c == '$' && i + 1 < raw.size() &&
            raw[i + 1] == '{') {
            const auto close = raw.find('}', i + 2);
            if (close != std::string_view::npos) {
                const std::string_view name = raw.substr(i + 2, close - i - 2);
                i = close;
                if (name == "*" || name == "?" || name == "$") {
                    g.append_literal(name);
                } else if (const auto& value = resolve(name)) {
                    g.append_literal(*value);
                } else {
                    g.set_never();
                }
                continue;
            }
        }
        if (wildcards && c == '*') {
            g.append_any_run();
        } else if (wildcards && c == '?') {
            g.append_any_one();
        } else {
            g.append_literal(std::string_view(&raw[i], 1));
        }
    }
    return g;
}

arn_pattern substituter::arn(std::string_view raw) {
    if (raw == "*") {
        return arn_pattern::any();
    }
    arn_fields parts;
    if (!split_arn(raw, version_ == policy_version::v2012_10_17, parts)) {
        return arn_pattern::never();
    }
    std::array<glob, 6> fields;
    for (std::size_t i = 0; i < 6; ++i) {
        fields[i] = pattern(parts[i], true);
    }
    return arn_pattern(std::move(fields));
}

std::optional<std::string> substituter::text(std::string_view raw) {
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (version_ == policy_version::v2012_10_17 && raw[i] == '$' && i + 1 < raw.size() &&
            raw[i + 1] == '{') {
            const auto close = raw.find('}', i + 2);
            if (close != std::string_view::npos) {
                const std::string_view name = raw.substr(i + 2, close - i - 2);
                i = close;
                if (name == "*" || name == "?" || name == "$") {
                    out += name;
                } else if (const auto& value = resolve(name)) {
                    out += *value;
                } else {
                    return std::nullopt;
                }
                continue;
            }
        }
        out += raw[i];
    }
    return out;
}

} // namespace thinggate::policy
