"""RFC 3261 §25.1 ABNF as named regular-expression pieces.

Each piece quotes the grammar it implements, as h11's ``_abnf.py`` does. The pieces are plain
strings so they compose; compiled patterns used by the parsers are at the bottom. Input has been
unfolded (LWS with CRLF replaced by a single space) before any of these run.
"""

from __future__ import annotations

import re

# alphanum = ALPHA / DIGIT
# token    = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
token = r"[A-Za-z0-9\-.!%*_+`'~]+"

# word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
#        "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}" )
word = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"

# callid = word [ "@" word ]
callid = rf"{word}(?:@{word})?"

# WSP, and LWS/SWS after unfolding
sws = r"[ \t]*"
lws = r"[ \t]+"

# quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
# qdtext        = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
# quoted-pair   = "\" (%x00-09 / %x0B-0C / %x0E-7F)
qdtext = r"[ \t\x21\x23-\x5b\x5d-\x7e\x80-\U0010ffff]"
quoted_string = rf'"(?:{qdtext}|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'

# escaped = "%" HEXDIG HEXDIG
escaped = r"%[0-9A-Fa-f]{2}"

# unreserved = alphanum / mark;  mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
unreserved = r"A-Za-z0-9\-_.!~*'()"

# user = 1*( unreserved / escaped / user-unreserved )
# user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
user = rf"(?:[{unreserved}&=+$,;?/]|{escaped})+"

# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
password = rf"(?:[{unreserved}&=+$,]|{escaped})*"

# IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT
ipv4address = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"

# IPv6reference = "[" IPv6address "]"   (checked again with ipaddress: RFC 5118 §4.10)
ipv6reference = r"\[[0-9A-Fa-f:.]+\]"

# IPv6address, bare: only via-received = "received" EQUAL (IPv4address / IPv6address) uses it
# (RFC 3261 §25.1, RFC 5118 §4.5); at least two colons, so it never matches a token or hostname
ipv6address = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}"

# hostname    = *( domainlabel "." ) toplabel [ "." ]
# domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
# toplabel    = ALPHA / ALPHA *( alphanum / "-" ) alphanum
domainlabel = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
toplabel = r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
hostname = rf"(?:{domainlabel}\.)*{toplabel}\.?"

# host = hostname / IPv4address / IPv6reference
host = rf"(?:{ipv6reference}|{ipv4address}|{hostname})"

# port = 1*DIGIT
port = r"[0-9]{1,5}"

# paramchar = param-unreserved / unreserved / escaped
# param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
paramchar = rf"(?:[\[\]/:&+${unreserved}]|{escaped})"

# hname  = 1*( hnv-unreserved / unreserved / escaped )
# hvalue = *( hnv-unreserved / unreserved / escaped )
# hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$"
hnvchar = rf"(?:[\[\]/?:+${unreserved}]|{escaped})"

# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
scheme = r"[A-Za-z][A-Za-z0-9+\-.]*"

# absoluteURI = scheme ":" ( hier-part / opaque-part ); the rest is one or more uric characters:
# uric = reserved / unreserved / escaped;  reserved = ";" / "/" / "?" / ":" / "@" / "&" / "=" /
# "+" / "$" / ","
uric = rf"(?:[;/?:@&=+$,{unreserved}]|{escaped})"

# gen-value = token / host / quoted-string
gen_value = rf"(?:{token}|{host}|{quoted_string})"

# generic-param = token [ EQUAL gen-value ]     (EQUAL = SWS "=" SWS)
generic_param = rf"{token}(?:{sws}={sws}{gen_value})?"

# Method = INVITEm / ACKm / ... / extension-method;  extension-method = token
# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT
sip_version = r"SIP/[0-9]+\.[0-9]+"

# Status-Code = 3DIGIT (RFC 3261 §7.2: 100 to 699)
status_code = r"[1-6][0-9]{2}"

TOKEN_RE = re.compile(token)
CALLID_RE = re.compile(callid)
QUOTED_STRING_RE = re.compile(quoted_string)
USER_RE = re.compile(user)
PASSWORD_RE = re.compile(password)
HOST_RE = re.compile(host)
PARAMCHARS_RE = re.compile(rf"{paramchar}+")
HNVCHARS_RE = re.compile(rf"{hnvchar}*")
SCHEME_RE = re.compile(scheme)
URIC_RE = re.compile(rf"{uric}+")
GEN_VALUE_RE = re.compile(gen_value)
SIP_VERSION_RE = re.compile(sip_version)
# The request line, RFC 3261 §25.1: Method SP Request-URI SP SIP-Version CRLF. The Request-URI
# is any run of non-space characters here; it is parsed on demand by uri.parse_uri.
REQUEST_LINE_RE = re.compile(rf"({token}) ([^ \t]+) ({sip_version})")
# Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF (an empty reason is tolerated
# without its SP, RFC 4475 §3.1.1.13 sends "100 ").
STATUS_LINE_RE = re.compile(rf"({sip_version}) ([0-9]{{3}})(?: (.*))?", re.DOTALL)
