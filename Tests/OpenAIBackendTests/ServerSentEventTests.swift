@testable import OpenAIBackend
import Testing

@Suite("server-sent events")
struct ServerSentEventTests {
    @Test("events split anywhere, CRLF or LF, comments, multi-line data, a last event without a blank line")
    func parsing() {
        let text = ": keep-alive\r\ndata: {\"a\":1}\r\n\r\nevent: note\ndata: line one\ndata: line two\n\nerror: {\"message\":\"x\"}\ndata: [DONE]"
        let bytes = Array(text.utf8)
        for cut in [1, 2, 3, 7, bytes.count] {
            var p = ServerSentEventParser()
            var events: [ServerSentEventParser.Event] = []
            var i = 0
            while i < bytes.count {
                events += p.append(bytes[i..<min(i + cut, bytes.count)])
                i += cut
            }
            if let last = p.finish() { events.append(last) }
            #expect(events == [
                .init(event: nil, data: "{\"a\":1}"),
                .init(event: "note", data: "line one\nline two"),
                .init(event: "error", data: "{\"message\":\"x\"}", isError: true),
                .init(event: nil, data: "[DONE]"),
            ], "cut every \(cut) bytes")
        }
    }
}
