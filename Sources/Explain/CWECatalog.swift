import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// One weakness from MITRE's CWE catalogue.
public struct CWEEntry: Sendable, Codable, Equatable {
    /// `CWE-79`.
    public var id: String
    public var name: String
    public var description: String
    public var extendedDescription: String
    public var consequences: [String]
    public var mitigations: [String]
}

/// Reads the CWE XML catalogue (`cwec_v4.14.xml` from the cwe2 wheel).
public enum CWECatalog {
    public static func load(_ url: URL) throws -> [CWEEntry] {
        guard let parser = XMLParser(contentsOf: url) else { throw ExplainError("\(url.path): cannot read the CWE catalogue") }
        let reader = Reader()
        parser.delegate = reader
        guard parser.parse() else {
            throw ExplainError("\(url.path): not a valid CWE catalogue (\(parser.parserError.map { "\($0)" } ?? "parse error") at line \(parser.lineNumber))")
        }
        guard !reader.entries.isEmpty else { throw ExplainError("\(url.path): no <Weakness> entries found") }
        return reader.entries
    }

    /// SAX reader: collects the text of the few elements we keep, nested XHTML included.
    final class Reader: NSObject, XMLParserDelegate {
        var entries: [CWEEntry] = []
        private var current: CWEEntry?
        private var stack: [String] = []
        private var text = ""
        private var consequence: [String] = []
        private var capturing: String?

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            stack.append(name)
            // Notes appear all over a weakness; only a consequence's parts are captured as such.
            let inConsequence = stack.dropLast().last == "Consequence"
            switch name {
            case "Weakness":
                current = CWEEntry(id: "CWE-" + (attributes["ID"] ?? "?"), name: attributes["Name"] ?? "", description: "", extendedDescription: "",
                                   consequences: [], mitigations: [])
            case "Description" where current != nil && stack.dropLast().last == "Weakness",
                 "Extended_Description" where current != nil && stack.dropLast().last == "Weakness":
                capturing = name
                text = ""
            case "Consequence" where current != nil:
                consequence = []
            case "Scope" where inConsequence, "Impact" where inConsequence, "Note" where inConsequence:
                capturing = name
                text = ""
            case "Mitigation" where current != nil:
                capturing = "Mitigation"
                text = ""
            default:
                if capturing != nil, !text.isEmpty, !text.hasSuffix(" ") { text += " " }
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if capturing != nil { text += string }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            defer { stack.removeLast() }
            let clean = { (s: String) in s.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
            switch name {
            case "Weakness":
                if let c = current { entries.append(c) }
                current = nil
            case "Description" where capturing == "Description":
                current?.description = clean(text)
                capturing = nil
            case "Extended_Description" where capturing == "Extended_Description":
                current?.extendedDescription = clean(text)
                capturing = nil
            case "Scope" where capturing == name, "Impact" where capturing == name, "Note" where capturing == name:
                consequence.append((name == "Note" ? "" : name + ": ") + clean(text))
                capturing = nil
            case "Consequence":
                if !consequence.isEmpty { current?.consequences.append(consequence.joined(separator: "; ")) }
            case "Mitigation" where capturing == "Mitigation":
                let t = clean(text)
                if !t.isEmpty { current?.mitigations.append(t) }
                capturing = nil
            default:
                break
            }
        }
    }
}
