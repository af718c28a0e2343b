%% @doc The written form of a rejected line, the Erlang twin of
%% `tally_core::written::reject_json` (README, "Rejected lines"): the
%% release's `rejects.jsonl` and the CLI's `--rejects FILE` hold the same
%% objects. Keys sorted (`tally_json`), `reason` an object of its kind and
%% named fields, `message` the reason as text, `text` the line (base64 with
%% `text_base64` true when it is not UTF-8).
-module(tally_reject).

-export([json/3, message/1]).

-type reject() :: {reject, atom(), non_neg_integer(), non_neg_integer(), tuple() | atom(), binary()}.
-export_type([reject/0]).

%% One reject of Source read from File, as one JSON line (no newline).
-spec json(binary(), binary() | string(), reject()) -> iodata().
json(Source, File, {reject, Format, Line, Offset, Reason, Text}) ->
    {Kept, Base64} = case unicode:characters_to_binary(Text) of
                         T when is_binary(T), T =:= Text -> {Text, false};
                         _ -> {base64:encode(Text), true}
                     end,
    tally_json:encode(#{<<"source">> => Source, <<"file">> => unicode:characters_to_binary(File),
                        <<"format">> => atom_to_binary(Format), <<"line">> => Line,
                        <<"offset">> => Offset, <<"reason">> => reason(Reason),
                        <<"message">> => message(Reason), <<"text">> => Kept,
                        <<"text_base64">> => Base64}).

%% A reason's kind and named fields (a field name keeps one JSON type
%% across kinds: a field count is `expected_fields`, never `expected`).
reason(bad_header) -> #{<<"kind">> => <<"bad_header">>};
reason(Reason) ->
    [Kind | Values] = tuple_to_list(Reason),
    maps:from_list([{<<"kind">>, atom_to_binary(Kind)} | lists:zip(names(Kind), Values)]).

names(bad_field) -> [<<"field">>, <<"column">>, <<"expected">>];
names(duplicate_key) -> [<<"field">>];
names(disagree) -> [<<"field">>, <<"other">>];
names(invalid_json) -> [<<"column">>, <<"expected">>];
names(malformed) -> [<<"column">>, <<"expected">>];
names(invalid_utf8) -> [<<"column">>];
names(missing_field) -> [<<"field">>];
names(wrong_type) -> [<<"field">>, <<"expected">>];
names(empty_field) -> [<<"field">>];
names(invalid_time) -> [<<"field">>];
names(invalid_number) -> [<<"field">>];
names(number_too_large) -> [<<"field">>];
names(line_too_long) -> [<<"length">>, <<"limit">>];
names(wrong_field_count) -> [<<"expected_fields">>, <<"found_fields">>].

%% The reason as text, the words of the engine's `RejectReason` Display.
-spec message(tuple() | atom()) -> binary().
message(bad_header) ->
    <<"the CSV header does not name the columns timestamp, customer, bucket and bytes">>;
message({bad_field, F, C, E}) -> f("field ~ts at column ~B: expected ~ts", [F, C, E]);
message({duplicate_key, F}) -> f("field ~ts appears more than once", [F]);
message({disagree, F, O}) -> f("field ~ts disagrees with ~ts", [F, O]);
message({invalid_json, C, E}) -> f("invalid JSON at column ~B: expected ~ts", [C, E]);
message({malformed, C, E}) -> f("malformed line at column ~B: expected ~ts", [C, E]);
message({invalid_utf8, C}) -> f("invalid UTF-8 at column ~B", [C]);
message({missing_field, F}) -> f("missing field ~ts", [F]);
message({wrong_type, F, E}) -> f("field ~ts should be ~ts", [F, E]);
message({empty_field, F}) -> f("field ~ts is empty", [F]);
message({invalid_time, F}) -> f("field ~ts is not a valid timestamp", [F]);
message({invalid_number, F}) -> f("field ~ts is not a non-negative integer", [F]);
message({number_too_large, F}) -> f("field ~ts is too large", [F]);
message({line_too_long, N, L}) -> f("line of ~B bytes is over the limit of ~B", [N, L]);
message({wrong_field_count, E, F}) -> f("expected ~B fields, found ~B", [E, F]).

f(Format, Args) -> unicode:characters_to_binary(io_lib:format(Format, Args)).
