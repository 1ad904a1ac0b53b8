// Server::handle_co: a coroutine handler run as an asynchronous one. The coroutine starts
// inside the handler's call, so one that finishes without suspending answers as a plain
// handler does; one that suspends holds the request through a Responder.
#pragma once

#include <string>

#include "lithe/server.hpp"

namespace lithe::server {

// The asynchronous handler that runs fn as a coroutine on the worker's loop, cancelled through
// its cancellation slot when the Responder is (client gone, handler deadline, server stop).
// An exception out of fn is logged under name and answered with a 500.
Server::AsyncHandlerFn coroutine_handler(std::string name, Server::CoHandlerFn fn);

}  // namespace lithe::server
