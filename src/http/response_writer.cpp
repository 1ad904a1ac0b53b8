#include "http/response_writer.hpp"

#include <charconv>

#include "http/status.hpp"

namespace lithe::http {

namespace {

// The request's ID, after Date, whatever the handler answered with.
void request_id_line(const RenderContext& ctx, OutputBuffer& out) {
  if (ctx.request_id.empty()) return;
  out.append(ctx.request_id_header);
  out.append(": ");
  out.append(ctx.request_id);
  out.append("\r\n");
}

// Headers the handler or middleware added (res.header), in order.
void extra_headers(const ResponseImpl& res, OutputBuffer& out) {
  for (const Header& h : res.extra_headers()) {
    out.append(h.name);
    out.append(": ");
    out.append(h.value);
    out.append("\r\n");
  }
}

void connection_line(const RenderContext& ctx, OutputBuffer& out) {
  if (!ctx.keep_alive)
    out.append("Connection: close\r\n");
  else if (ctx.http10)
    out.append("Connection: keep-alive\r\n");
}

void content_length(std::size_t n, OutputBuffer& out) {
  char buf[40] = "Content-Length: ";
  constexpr std::size_t prefix = 16;
  auto [end, ec] = std::to_chars(buf + prefix, buf + sizeof(buf) - 2, n);
  (void)ec;
  *end++ = '\r';
  *end++ = '\n';
  out.append({buf, static_cast<std::size_t>(end - buf)});
}

// Status line, Server, Date, Content-Type and the handler's headers.
void head_fields(const ResponseImpl& res, bool has_body, const RenderContext& ctx,
                 OutputBuffer& out) {
  out.append(status_line(static_cast<uint16_t>(res.status())));
  out.append(ctx.server_line);
  out.append(ctx.date_line);
  request_id_line(ctx, out);
  if (has_body && !res.content_type().empty()) {
    out.append("Content-Type: ");
    out.append(res.content_type());
    out.append("\r\n");
  }
  extra_headers(res, out);
}

}  // namespace

std::size_t render(ResponseImpl& res, const RenderContext& ctx, OutputBuffer& out) {
  if (const PreparedResponse* p = res.prepared_response()) {
    out.append(p->head());
    out.append(ctx.date_line);
    request_id_line(ctx, out);
    extra_headers(res, out);
    connection_line(ctx, out);
    out.append("\r\n");
    if (ctx.head) return 0;
    if (p->body_fd() >= 0) {
      out.file(p->body_fd(), 0, p->body_size(), false);  // its handler keeps it open
      return p->body_size();
    }
    out.reference(p->body());
    return p->body().size();
  }
  const uint16_t status = static_cast<uint16_t>(res.status());
  const bool has_body = status_has_body(status);
  head_fields(res, has_body, ctx, out);
  if (has_body) content_length(res.has_file() ? res.file_length() : res.body().size(), out);
  connection_line(ctx, out);
  out.append("\r\n");
  const bool sends_body = has_body && !ctx.head;
  if (res.has_file()) {
    auto f = res.take_file();
    const std::size_t length = sends_body ? f.length : 0;
    out.file(f.fd, f.offset, length, true);
    return length;
  }
  if (!sends_body) return 0;
  // Arena bytes are reused by the next request of the batch: copy them.
  if (res.body_owned())
    out.append(res.body());
  else
    out.reference(res.body());
  return res.body().size();
}

void render_stream_head(const ResponseImpl& res, const RenderContext& ctx, bool chunked,
                        OutputBuffer& out) {
  head_fields(res, status_has_body(static_cast<uint16_t>(res.status())), ctx, out);
  if (chunked) out.append("Transfer-Encoding: chunked\r\n");
  connection_line(ctx, out);
  out.append("\r\n");
}

std::size_t render_error(uint16_t status, const RenderContext& ctx, OutputBuffer& out) {
  std::string_view reason = reason_phrase(status);
  out.append(status_line(status));
  out.append(ctx.server_line);
  out.append(ctx.date_line);
  request_id_line(ctx, out);
  out.append("Content-Type: text/plain; charset=utf-8\r\n");
  content_length(reason.size() + 1, out);
  connection_line(ctx, out);
  out.append("\r\n");
  if (ctx.head) return 0;
  out.append(reason);
  out.append("\n");
  return reason.size() + 1;
}

}  // namespace lithe::http
