#include "policy/resource.hpp"

namespace thinggate::policy {

std::string_view action_name(action a) noexcept {
    switch (a) {
    case action::connect:
        return "iot:Connect";
    case action::publish:
        return "iot:Publish";
    case action::retain_publish:
        return "iot:RetainPublish";
    case action::subscribe:
        return "iot:Subscribe";
    case action::receive:
        return "iot:Receive";
    }
    return "iot:Unknown";
}

std::string make_arn(const resource_names& names, std::string_view type, std::string_view name) {
    std::string out;
    out.reserve(20 + names.region.size() + names.account.size() + type.size() + name.size());
    out += "arn:aws:iot:";
    out += names.region;
    out += ':';
    out += names.account;
    out += ':';
    out += type;
    out += '/';
    out += name;
    return out;
}

std::string client_arn(const resource_names& names, std::string_view client_id) {
    return make_arn(names, "client", client_id);
}

std::string topic_arn(const resource_names& names, std::string_view topic) {
    return make_arn(names, "topic", topic);
}

std::string topic_filter_arn(const resource_names& names, std::string_view filter) {
    return make_arn(names, "topicfilter", filter);
}

arn_builder::arn_builder(const resource_names& names)
    : buf_(make_arn(names, "", "")) {
    buf_.pop_back(); // the '/' after the empty type
    prefix_size_ = buf_.size();
}

std::string_view arn_builder::build(std::string_view type, std::string_view name) {
    buf_.resize(prefix_size_);
    buf_ += type;
    buf_ += '/';
    buf_ += name;
    return buf_;
}

std::string_view arn_builder::client(std::string_view client_id) {
    return build("client", client_id);
}

std::string_view arn_builder::topic(std::string_view topic) {
    return build("topic", topic);
}

std::string_view arn_builder::topic_filter(std::string_view filter) {
    return build("topicfilter", filter);
}

std::string_view arn_builder::for_action(action a, std::string_view name) {
    switch (a) {
    case action::connect:
        return client(name);
    case action::subscribe:
        return topic_filter(name);
    case action::publish:
    case action::retain_publish:
    case action::receive:
        break;
    }
    return topic(name);
}

bool client_id_safe_for_policies(std::string_view client_id) noexcept {
    return client_id.find_first_of("+#") == std::string_view::npos;
}

} // namespace thinggate::policy
