#include "transport/broker_handler.hpp"

#include <utility>

#include "transport/server.hpp"

namespace thinggate::transport {

broker_handler::broker_handler(
        broker::broker& b,
        broker::shard_id shard,
        broker::connection_io& io,
        broker::connection_info info)
    : client_(b, shard, io, std::move(info)) {}

std::span<std::uint8_t> broker_handler::prepare_input(std::size_t min_size) {
    return client_.prepare_input(min_size);
}

void broker_handler::release_input() { client_.release_input(); }

bool broker_handler::input_paused() const noexcept {
    return client_.input_paused();
}

void broker_handler::commit_input(std::size_t n) {
    client_.commit_input(n);
}

bool broker_handler::take_output(std::vector<broker::out_frame>& out) {
    return client_.take_output(out);
}

void broker_handler::output_written(std::size_t n) {
    client_.output_written(n);
}

std::chrono::milliseconds broker_handler::read_timeout() const noexcept {
    return client_.read_timeout();
}

void broker_handler::on_read_timeout() {
    client_.on_read_timeout();
}

void broker_handler::on_connection_lost() {
    client_.on_connection_lost();
}

void broker_handler::on_server_shutdown() {
    client_.on_server_shutdown();
}

bool broker_handler_factory::try_admit() noexcept {
    return broker_.try_admit_connection();
}

void broker_handler_factory::release() noexcept {
    broker_.release_connection();
}

std::unique_ptr<connection_handler> broker_handler_factory::make(
        broker::connection_io& io, broker::shard_id shard, broker::connection_info info) {
    return std::make_unique<broker_handler>(broker_, shard, io, std::move(info));
}

// The broker-facing server constructor lives here, not in server.cpp, so that code (and tests)
// using the server with another handler factory do not need the broker library to link.
server::server(broker::broker& b, shard_pool& pool, std::vector<listener_config> listeners)
    : server(std::make_unique<broker_handler_factory>(b), pool, std::move(listeners)) {}

} // namespace thinggate::transport
