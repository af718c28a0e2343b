%% @doc Byte-level helpers for the Gleam application's wire protocols
%% (tally/app/nats_protocol): splitting, cutting and reading numbers out of
%% binaries, which Gleam without a standard library cannot express. Pure
%% functions; every result is a Gleam value (`{ok, X}` / `{error, nil}`).
-module(tally_bytes_ffi).

-export([split_line/1, words/1, non_negative_int/1, split_at/2, split/2, split_once/2, utf8_prefix/2,
         concat/1, ascii_uppercase/1, strip/2]).

%% The bytes before the first CRLF and those after it.
-spec split_line(binary()) -> {ok, {binary(), binary()}} | {error, nil}.
split_line(Bin) ->
    case binary:match(Bin, <<"\r\n">>) of
        {Pos, 2} ->
            <<Line:Pos/binary, "\r\n", Rest/binary>> = Bin,
            {ok, {Line, Rest}};
        nomatch ->
            {error, nil}
    end.

%% The words of a line, split on spaces and tabs, empty ones dropped.
-spec words(binary()) -> [binary()].
words(Line) -> binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]).

%% Decimal digits as a non-negative integer; anything else is an error.
-spec non_negative_int(binary()) -> {ok, non_neg_integer()} | {error, nil}.
non_negative_int(Text) ->
    try binary_to_integer(Text) of
        N when N >= 0 -> {ok, N};
        _ -> {error, nil}
    catch error:badarg -> {error, nil}
    end.

%% The first N bytes and the rest, when there are N.
-spec split_at(binary(), non_neg_integer()) -> {ok, {binary(), binary()}} | {error, nil}.
split_at(Bin, N) when is_integer(N), N >= 0, byte_size(Bin) >= N ->
    <<A:N/binary, B/binary>> = Bin,
    {ok, {A, B}};
split_at(_Bin, _N) ->
    {error, nil}.

%% Every piece between Separators, empty ones dropped.
-spec split(binary(), binary()) -> [binary()].
split(Bin, Separator) -> binary:split(Bin, Separator, [global, trim_all]).

%% The bytes before the first Separator and those after it.
-spec split_once(binary(), binary()) -> {ok, {binary(), binary()}} | {error, nil}.
split_once(Bin, Separator) ->
    case binary:split(Bin, Separator) of
        [A, B] -> {ok, {A, B}};
        [_] -> {error, nil}
    end.

%% The longest prefix of at most N bytes that is whole UTF-8 (an excerpt
%% of a line for an error message); the bytes up to the first bad
%% sequence when there is one.
-spec utf8_prefix(binary(), non_neg_integer()) -> binary().
utf8_prefix(Bin, N) -> utf8_prefix(Bin, N, 0).

utf8_prefix(Bin, N, Len) ->
    case Bin of
        <<_:Len/binary, C/utf8, _/binary>> ->
            Next = Len + byte_size(<<C/utf8>>),
            case Next =< N of
                true -> utf8_prefix(Bin, N, Next);
                false -> binary:part(Bin, 0, Len)
            end;
        _ -> binary:part(Bin, 0, Len)
    end.

-spec concat([binary()]) -> binary().
concat(Parts) -> iolist_to_binary(Parts).

%% a-z to A-Z only.
-spec ascii_uppercase(binary()) -> binary().
ascii_uppercase(Bin) -> << <<(case C >= $a andalso C =< $z of true -> C - 32; false -> C end)>> || <<C>> <= Bin >>.

%% Bin without every leading and trailing byte Byte.
-spec strip(binary(), byte()) -> binary().
strip(Bin, Byte) -> string:trim(Bin, both, [Byte]).
