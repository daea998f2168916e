// How deeply a query nests, estimated from its tokens before it is parsed.
//
// libpg_query turns a parse tree into JSON by recursion, one level of the C stack per level of
// the tree, and so does the binder after it: a query that nests deep enough (100,000 terms of
// `1+1+...`, or as many parentheses) overflows the stack of the thread that parses it and ends
// the server. PostgreSQL itself stops such a query with "stack depth limit exceeded"; so does
// mqbase, before parsing, from PostgreSQL's own scanner's tokens (pg_query_scan: no recursion).
#pragma once
#include <string_view>

namespace mqbase::query {

// The most levels a query may nest (docs/sql.md).
constexpr int kMaxQueryNesting = 1000;

// An upper bound of the parse tree's depth, by token: each opening parenthesis or bracket and
// each CASE opens a level; within a level each operator (and each keyword that is not a
// clause's) adds one, and a comma, AND, OR or a clause keyword (SELECT, WHERE, THEN, ...) starts
// the count again, since PostgreSQL makes a list of what they separate rather than a deeper
// tree; UNION, INTERSECT and EXCEPT add one that no clause keyword takes back (a chain of them
// nests). Returns the byte offset of the token at which the estimate first passes `limit`, or
// -1 when it never does (or the text does not scan: the parser reports that).
// `tokens`, when given: how many tokens the text has (at most its length, which is what it
// says for a text too short to be scanned).
int nesting_past(std::string_view sql, int limit = kMaxQueryNesting, size_t* tokens = nullptr);

// What parsing a query takes in memory, per token, at most (measured in a release build: an IN
// list of 1 M integers, 2 MB of text and 2 M tokens, grew the server by 450 MB to parse and
// bind: the parser's nodes, their JSON, and that JSON's DOM); and per byte of text (the scan
// that counts the tokens, about 50 bytes a token, and long literals).
constexpr size_t kParseBytesPerToken = 256;
constexpr size_t kParseBytesPerTextByte = 64;

}  // namespace mqbase::query
