// Renders responses into an OutputBuffer: status line and headers copied, bodies referenced
// when large. Every response of a batch goes into the same buffer, in request order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/output.hpp"
#include "http/response.hpp"

namespace lithe::http {

struct RenderContext {
  std::string_view date_line;          // "Date: ...\r\n" from the loop's DateCache
  std::string_view server_line;        // "Server: lithe\r\n", or "" when server_header is ""
  bool keep_alive = true;              // false: add Connection: close
  bool http10 = false;                 // HTTP/1.0 keep-alive must be announced
  bool head = false;                   // HEAD: headers only
  std::string_view request_id_header;  // server.request_id_header ("": none)
  std::string_view request_id;         // the request's ID, sent under that name
};

// Appends one response to out (a file body is handed over to out). Returns the body bytes it
// will send (0 for HEAD and bodiless statuses), as the access log reports them.
std::size_t render(ResponseImpl& res, const RenderContext& ctx, OutputBuffer& out);

// Appends the head of a streamed response: status, the handler's Content-Type and headers, and
// Transfer-Encoding: chunked when `chunked` (HTTP/1.1 with a body status, HEAD included, which
// announces what GET would send). The response's own body, file or prepared form is ignored.
void render_stream_head(const ResponseImpl& res, const RenderContext& ctx, bool chunked,
                        OutputBuffer& out);

// Appends a short text/plain error response (its reason phrase as the body). Returns the body
// bytes, as render() does.
std::size_t render_error(uint16_t status, const RenderContext& ctx, OutputBuffer& out);

}  // namespace lithe::http
