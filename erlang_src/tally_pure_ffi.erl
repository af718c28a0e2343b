%% @doc The byte-level helpers of the pure Gleam engine (gleam_src/tally/pure):
%% the Gleam subset tally compiles with leaves bit syntax to Erlang, so
%% reading bytes by position and splitting binaries happen here. Nothing
%% here knows a format; it is the Gleam code that parses.
-module(tally_pure_ffi).

-export([map_fold/3]).

-export([byte_at/2, slice/3, size/1, to_text/1, utf8_error_at/1, split_lines/1, append_byte/2,
         append/2, codepoint_utf8/1, starts_with/3, is_blank/1, strip_cr/1, head/2,
         reverse/1, length/1, parse_int/1, trim/1, ascii_lowercase/1, int_to_text/1,
         all_digits/1, find_byte/3, fnv1a64_hex/1, cell_new/1, cell_update/2, cell_stop/1,
         map_new/0, map_get/2, map_put/3, map_delete/2, map_size/1, sorted_pairs/1, floor_div/2,
         sort/1, le_word/2, read_le/4, concat/1, before/2]).

%% Whether text A sorts before B in byte order (as Rust compares strings).
-spec before(binary(), binary()) -> boolean().
before(A, B) -> A < B.

%% The byte at Pos, or -1 past the end.
-spec byte_at(binary(), integer()) -> integer().
byte_at(Bin, Pos) when Pos >= 0, Pos < byte_size(Bin) -> binary:at(Bin, Pos);
byte_at(_Bin, _Pos) -> -1.

%% A binary the caller knows is UTF-8, typed as a Gleam String: itself.
-spec to_text(binary()) -> binary().
to_text(Bin) -> Bin.

-spec slice(binary(), non_neg_integer(), non_neg_integer()) -> binary().
slice(Bin, Pos, Len) -> binary:part(Bin, Pos, Len).

-spec size(binary()) -> non_neg_integer().
size(Bin) -> byte_size(Bin).

%% -1 when Bin is UTF-8, else the length of its longest valid prefix.
-spec utf8_error_at(binary()) -> integer().
utf8_error_at(Bin) ->
    case unicode:characters_to_binary(Bin, utf8, utf8) of
        Bin -> -1;
        {error, Valid, _} -> byte_size(Valid);
        {incomplete, Valid, _} -> byte_size(Valid)
    end.

%% The pieces between newlines: the last is what follows the last newline
%% (empty when the input ends with one).
-spec split_lines(binary()) -> [binary()].
split_lines(Bin) -> binary:split(Bin, <<"\n">>, [global]).

-spec append_byte(binary(), byte()) -> binary().
append_byte(Bin, Byte) -> <<Bin/binary, Byte>>.

-spec append(binary(), binary()) -> binary().
append(A, B) -> <<A/binary, B/binary>>.

%% The UTF-8 of a code point, or an error for a surrogate or one too large.
-spec codepoint_utf8(integer()) -> {ok, binary()} | {error, nil}.
codepoint_utf8(C) when C >= 16#D800, C =< 16#DFFF -> {error, nil};
codepoint_utf8(C) when C >= 0, C =< 16#10FFFF -> {ok, <<C/utf8>>};
codepoint_utf8(_) -> {error, nil}.

-spec starts_with(binary(), non_neg_integer(), binary()) -> boolean().
starts_with(Bin, Pos, Word) ->
    byte_size(Bin) >= Pos + byte_size(Word) andalso binary:part(Bin, Pos, byte_size(Word)) =:= Word.

%% Only ASCII white space (space, tab, newline, form feed, carriage return).
-spec is_blank(binary()) -> boolean().
is_blank(<<>>) -> true;
is_blank(<<C, Rest/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= 12; C =:= $\r -> is_blank(Rest);
is_blank(_) -> false.

-spec strip_cr(binary()) -> binary().
strip_cr(Bin) when byte_size(Bin) > 0 ->
    case binary:last(Bin) of
        $\r -> binary:part(Bin, 0, byte_size(Bin) - 1);
        _ -> Bin
    end;
strip_cr(Bin) -> Bin.

%% At most the first N bytes.
-spec head(binary(), non_neg_integer()) -> binary().
head(Bin, N) when byte_size(Bin) =< N -> Bin;
head(Bin, N) -> binary:part(Bin, 0, N).

-spec reverse(list()) -> list().
reverse(L) -> lists:reverse(L).

-spec length(list()) -> non_neg_integer().
length(L) -> erlang:length(L).

%% Decimal digits only (the caller checked), as an integer.
-spec parse_int(binary()) -> integer().
parse_int(Bin) -> binary_to_integer(Bin).

%% Trims what Rust's str::trim trims: Unicode White_Space at both ends
%% (not Erlang's string:trim/1 set, which differs at U+00A0, U+200E, ...).
-spec trim(binary()) -> binary().
trim(Bin) -> trim_trailing(trim_leading(Bin)).

trim_leading(<<C/utf8, Rest/binary>> = Bin) ->
    case white_space(C) of true -> trim_leading(Rest); false -> Bin end;
trim_leading(Bin) -> Bin.

trim_trailing(Bin) ->
    Kept = lists:dropwhile(fun white_space/1, lists:reverse(unicode:characters_to_list(Bin))),
    unicode:characters_to_binary(lists:reverse(Kept)).

white_space(C) when C >= 9, C =< 13 -> true;
white_space(C) when C =:= 32; C =:= 16#85; C =:= 16#A0; C =:= 16#1680 -> true;
white_space(C) when C >= 16#2000, C =< 16#200A -> true;
white_space(C) when C =:= 16#2028; C =:= 16#2029; C =:= 16#202F; C =:= 16#205F; C =:= 16#3000 -> true;
white_space(_) -> false.

%% A-Z to a-z only, as Rust's to_ascii_lowercase.
-spec ascii_lowercase(binary()) -> binary().
ascii_lowercase(Bin) -> << <<(case C >= $A andalso C =< $Z of true -> C + 32; false -> C end)>> || <<C>> <= Bin >>.

-spec int_to_text(integer()) -> binary().
int_to_text(N) -> integer_to_binary(N).

%% Non-empty and only ASCII digits.
-spec all_digits(binary()) -> boolean().
all_digits(<<>>) -> false;
all_digits(Bin) -> lists:all(fun(C) -> C >= $0 andalso C =< $9 end, binary_to_list(Bin)).

%% The position of Byte at or after From, or the size when there is none.
-spec find_byte(binary(), non_neg_integer(), byte()) -> non_neg_integer().
find_byte(Bin, From, Byte) ->
    case binary:match(Bin, <<Byte>>, [{scope, {From, byte_size(Bin) - From}}]) of
        {Pos, 1} -> Pos;
        nomatch -> byte_size(Bin)
    end.

%% FNV-1a, 64 bits, as 16 lowercase hex digits (ids of S3 lines without a
%% request id): the same as tally_core::parse::fnv1a64 with {:016x}.
-spec fnv1a64_hex(binary()) -> binary().
fnv1a64_hex(Bin) ->
    H = lists:foldl(fun(B, Acc) -> ((Acc bxor B) * 16#100000001b3) band 16#ffffffffffffffff end,
                    16#cbf29ce484222325, binary_to_list(Bin)),
    list_to_binary(io_lib:format("~16.16.0b", [H])).

%% A cell: a process holding one value, for the Gleam engine's streaming
%% parsers (Gleam values do not change; a parser must). Linked to its
%% creator, so it goes when the creator does; cell_stop/1 ends it sooner.
-spec cell_new(term()) -> pid().
cell_new(Value) ->
    spawn_link(fun() -> cell_loop(Value) end).

cell_loop(Value) ->
    receive
        {update, Fun, From, Ref} ->
            {New, Reply} = Fun(Value),
            From ! {Ref, Reply},
            cell_loop(New);
        stop ->
            ok
    end.

%% Runs Fun(Value) -> {NewValue, Reply} in the cell; Reply, or
%% {error, {bad_argument, ...}} when the cell is gone.
-spec cell_update(pid(), fun((term()) -> {term(), term()})) -> term().
cell_update(Cell, Fun) ->
    Ref = monitor(process, Cell),
    Cell ! {update, Fun, self(), Ref},
    receive
        {Ref, Reply} -> demonitor(Ref, [flush]), Reply;
        {'DOWN', Ref, process, Cell, _} -> {error, tally_values:bad_argument(<<"a live handle">>)}
    end.

-spec cell_stop(pid()) -> nil.
cell_stop(Cell) ->
    unlink(Cell),
    Cell ! stop,
    nil.

%% Maps for the Gleam engine's aggregator (there is no gleam_stdlib here).
-spec map_new() -> map().
map_new() -> #{}.

-spec map_get(map(), term()) -> {ok, term()} | {error, nil}.
map_get(Map, Key) ->
    case Map of
        #{Key := Value} -> {ok, Value};
        _ -> {error, nil}
    end.

-spec map_put(map(), term(), term()) -> map().
map_put(Map, Key, Value) -> Map#{Key => Value}.

-spec map_delete(map(), term()) -> map().
map_delete(Map, Key) -> maps:remove(Key, Map).

-spec map_size(map()) -> non_neg_integer().
map_size(Map) -> erlang:map_size(Map).

%% F(Acc, Key, Value) over every pair, in no set order.
-spec map_fold(map(), term(), fun((term(), term(), term()) -> term())) -> term().
map_fold(Map, Initial, F) -> maps:fold(fun(K, V, Acc) -> F(Acc, K, V) end, Initial, Map).

%% Key-value pairs in Erlang term order (binaries bytewise, as Rust orders strings).
-spec sorted_pairs(map()) -> [{term(), term()}].
sorted_pairs(Map) -> lists:sort(maps:to_list(Map)).

%% Division rounding toward negative infinity (Rust's div_euclid for a positive divisor).
-spec floor_div(integer(), pos_integer()) -> integer().
floor_div(A, B) when A >= 0 -> A div B;
floor_div(A, B) -> -((-A + B - 1) div B).

%% A list in Erlang term order: records field by field, binaries bytewise
%% (the order of Rust's derived Ord on the same fields).
-spec sort(list()) -> list().
sort(List) -> lists:sort(List).

%% Export words ---------------------------------------------------------------
%% The aggregator export is little-endian words; the Gleam engine builds and
%% reads it field by field through these.

%% N in Bytes bytes, little-endian (two's complement when negative, as an i64).
-spec le_word(integer(), pos_integer()) -> binary().
le_word(N, Bytes) -> Bits = Bytes * 8, <<N:Bits/little>>.

%% The word of Bytes bytes at Pos, signed or not; {error, nil} past the end.
-spec read_le(binary(), non_neg_integer(), pos_integer(), boolean()) -> {ok, integer()} | {error, nil}.
read_le(Bin, Pos, Bytes, Signed) when Pos + Bytes =< byte_size(Bin) ->
    Bits = Bytes * 8,
    case Signed of
        true -> <<_:Pos/binary, V:Bits/little-signed, _/binary>> = Bin, {ok, V};
        false -> <<_:Pos/binary, V:Bits/little-unsigned, _/binary>> = Bin, {ok, V}
    end;
read_le(_Bin, _Pos, _Bytes, _Signed) -> {error, nil}.

-spec concat([binary()]) -> binary().
concat(Parts) -> iolist_to_binary(Parts).

