#pragma once
// auth/json_fields: strict reading of a JSON object's fields, shared by the stored-record codec
// (registry_model.cpp) and the registry file (registry_file.cpp): every field must have the
// expected type, required fields must be present, and finish() refuses any field not read.
// Errors are json_field_error exceptions whose message starts with the object's description
// (control plane and start-up only, never the data path).
// Thread safety: a reader is a plain value used by one thread.

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace thinggate::auth {

struct json_field_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class json_fields {
public:
    /// `what` names the object in messages, e.g. `certificate "3f2a..."` or
    /// `registry.json: things[2] ("sensor-7")`.
    json_fields(std::string what, const boost::json::object& object);

    /// Parses `text` as a JSON object; json_field_error naming `what` otherwise.
    static boost::json::object parse_object(const std::string& what, std::string_view text);

    [[noreturn]] void fail(const std::string& message) const;
    [[noreturn]] void fail_field(std::string_view key, const std::string& message) const;

    bool has(std::string_view key) const;
    const boost::json::value& field(std::string_view key);

    std::string string(std::string_view key);
    std::optional<std::string> optional_string(std::string_view key);
    bool boolean(std::string_view key);
    std::optional<bool> optional_boolean(std::string_view key);
    std::int64_t integer(std::string_view key);
    const boost::json::object& object(std::string_view key);
    /// An array of strings; an absent field is an empty list.
    std::vector<std::string> optional_strings(std::string_view key);
    /// An array of objects; an absent field is an empty list.
    std::vector<const boost::json::object*> optional_objects(std::string_view key);

    /// json_field_error for the first field that was not read.
    void finish() const;

    const std::string& what() const noexcept { return what_; }

private:
    std::string what_;
    const boost::json::object& object_;
    std::set<std::string, std::less<>> read_;
};

} // namespace thinggate::auth
