#include "broker/options.hpp"

#include <doctest/doctest.h>

using namespace thinggate;

TEST_CASE("aws_iot_limits carries AWS IoT Core's documented quotas") {
    const broker::limits aws = broker::aws_iot_limits();
    CHECK(aws.max_client_id_length == 128);
    CHECK(aws.max_topic_length == 256);
    CHECK(aws.max_topic_levels == 8);
    CHECK(aws.max_filters_per_subscribe == 8);
    CHECK(aws.max_subscriptions == 50);
    CHECK(aws.max_packet_size == 128 * 1024);
    CHECK(aws.maximum_qos == mqtt::qos::at_least_once);
    CHECK(aws.min_keep_alive == 30);
    CHECK(aws.max_keep_alive == 1200);
    CHECK_FALSE(aws.subscription_identifiers);
    CHECK(aws.receive_maximum == 100);
    CHECK(aws.max_inflight_out == 100);
    CHECK(aws.max_session_expiry == 3600);
    CHECK(aws.max_publish_rate == 100);
    CHECK(aws.max_publish_bytes_rate == 512 * 1024);
    CHECK(aws.min_connect_interval_ms == 1000);
}

TEST_CASE("aws_iot_limits keeps every other field at the mqtt default") {
    const broker::limits aws = broker::aws_iot_limits();
    const broker::limits std_limits{};
    CHECK(aws.max_queued_messages == std_limits.max_queued_messages);
    CHECK(aws.max_queued_bytes == std_limits.max_queued_bytes);
    CHECK(aws.max_connections == std_limits.max_connections);
    CHECK(aws.outbound_budget_bytes == std_limits.outbound_budget_bytes);
    CHECK(aws.slow_consumer == std_limits.slow_consumer);
    CHECK(aws.topic_alias_maximum == std_limits.topic_alias_maximum);
    CHECK(aws.max_message_expiry == std_limits.max_message_expiry);
    CHECK(aws.retain_available == std_limits.retain_available);
    CHECK(aws.wildcard_subscriptions == std_limits.wildcard_subscriptions);
    CHECK(aws.shared_subscriptions == std_limits.shared_subscriptions);
}

TEST_CASE("the mqtt profile is the default and its limits are the standard ones") {
    const broker::options opts;
    CHECK(opts.compat == broker::compat_profile::mqtt);
    CHECK(opts.lim.maximum_qos == mqtt::qos::exactly_once);
    CHECK(opts.lim.subscription_identifiers);
    CHECK(opts.lim.max_filters_per_subscribe == 0);
}
