#include "auth/json_fields.hpp"

#include <boost/json/parse.hpp>

namespace thinggate::auth {

namespace json = boost::json;

json_fields::json_fields(std::string what, const json::object& object)
    : what_(std::move(what))
    , object_(object) {}

json::object json_fields::parse_object(const std::string& what, std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec) {
        throw json_field_error(what + ": not JSON (" + ec.message() + ")");
    }
    if (!v.is_object()) {
        throw json_field_error(what + ": not a JSON object");
    }
    return std::move(v.get_object());
}

void json_fields::fail(const std::string& message) const {
    throw json_field_error(what_ + ": " + message);
}

void json_fields::fail_field(std::string_view key, const std::string& message) const {
    fail("field \"" + std::string(key) + "\" " + message);
}

bool json_fields::has(std::string_view key) const {
    return object_.contains(key);
}

const json::value& json_fields::field(std::string_view key) {
    const auto* v = object_.if_contains(key);
    if (v == nullptr) {
        fail("missing field \"" + std::string(key) + "\"");
    }
    read_.emplace(key);
    return *v;
}

std::string json_fields::string(std::string_view key) {
    const auto& v = field(key);
    if (!v.is_string()) {
        fail_field(key, "must be a string");
    }
    return std::string(v.get_string());
}

std::optional<std::string> json_fields::optional_string(std::string_view key) {
    if (!has(key)) {
        return std::nullopt;
    }
    return string(key);
}

bool json_fields::boolean(std::string_view key) {
    const auto& v = field(key);
    if (!v.is_bool()) {
        fail_field(key, "must be true or false");
    }
    return v.get_bool();
}

std::optional<bool> json_fields::optional_boolean(std::string_view key) {
    if (!has(key)) {
        return std::nullopt;
    }
    return boolean(key);
}

std::int64_t json_fields::integer(std::string_view key) {
    const auto& v = field(key);
    if (v.is_int64()) {
        return v.get_int64();
    }
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        return static_cast<std::int64_t>(v.get_uint64());
    }
    fail_field(key, "must be an integer");
}

const json::object& json_fields::object(std::string_view key) {
    const auto& v = field(key);
    if (!v.is_object()) {
        fail_field(key, "must be an object");
    }
    return v.get_object();
}

std::vector<std::string> json_fields::optional_strings(std::string_view key) {
    std::vector<std::string> out;
    if (!has(key)) {
        return out;
    }
    const auto& v = field(key);
    if (!v.is_array()) {
        fail_field(key, "must be an array of strings");
    }
    for (const auto& item : v.get_array()) {
        if (!item.is_string()) {
            fail_field(key, "must be an array of strings");
        }
        out.emplace_back(item.get_string());
    }
    return out;
}

std::vector<const json::object*> json_fields::optional_objects(std::string_view key) {
    std::vector<const json::object*> out;
    if (!has(key)) {
        return out;
    }
    const auto& v = field(key);
    if (!v.is_array()) {
        fail_field(key, "must be an array of objects");
    }
    for (const auto& item : v.get_array()) {
        if (!item.is_object()) {
            fail_field(key, "must be an array of objects");
        }
        out.push_back(&item.get_object());
    }
    return out;
}

void json_fields::finish() const {
    for (const auto& [key, value] : object_) {
        if (read_.find(std::string_view(key)) == read_.end()) {
            fail("unknown field \"" + std::string(key) + "\"");
        }
    }
}

} // namespace thinggate::auth
