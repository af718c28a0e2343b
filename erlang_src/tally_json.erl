%% @doc A small JSON encoder and decoder (OTP 25 has no `json` module and
%% hex.pm is out of reach). Objects are maps with binary keys, arrays are
%% lists, strings are UTF-8 binaries, `true`/`false`/`null` are atoms.
%% Decoding never creates atoms; errors say at which byte and why.
-module(tally_json).

-export([encode/1, decode/1]).

-type json() :: #{binary() => json()} | [json()] | binary() | integer() | float()
              | true | false | null.
-export_type([json/0]).

%%% Encoding

-spec encode(json()) -> iodata().
encode(true) -> <<"true">>;
encode(false) -> <<"false">>;
encode(null) -> <<"null">>;
encode(N) when is_integer(N) -> integer_to_binary(N);
encode(F) when is_float(F) -> float_to_binary(F, [short]);
encode(B) when is_binary(B) -> [$", escape(B, <<>>), $"];
encode(L) when is_list(L) -> [$[, join([encode(V) || V <- L]), $]];
encode(M) when is_map(M) ->
    %% Sorted keys: the same map always gives the same bytes.
    [${, join([[encode(K), $:, encode(V)] || {K, V} <- lists:sort(maps:to_list(M))]), $}].

join([]) -> [];
join([H | T]) -> [H | [[$, | X] || X <- T]].

escape(<<>>, Acc) -> Acc;
escape(<<$", R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\\"">>);
escape(<<$\\, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\\\">>);
escape(<<$\n, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\n">>);
escape(<<$\r, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\r">>);
escape(<<$\t, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\t">>);
escape(<<C, R/binary>>, Acc) when C < 16#20 ->
    Hex = list_to_binary(io_lib:format("\\u~4.16.0b", [C])),
    escape(R, <<Acc/binary, Hex/binary>>);
escape(<<C, R/binary>>, Acc) -> escape(R, <<Acc/binary, C>>).

%%% Decoding

-spec decode(binary()) -> {ok, json()} | {error, {Offset :: non_neg_integer(), Why :: binary()}}.
decode(Bin) when is_binary(Bin) ->
    try
        {Value, Rest} = value(ws(Bin)),
        case ws(Rest) of
            <<>> -> {ok, Value};
            Trailing -> throw({at, Trailing, <<"text after the value">>})
        end
    catch
        throw:{at, Where, Why} -> {error, {byte_size(Bin) - byte_size(Where), Why}}
    end.

ws(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> ws(R);
ws(B) -> B.

value(<<${, R/binary>>) -> object(ws(R), #{});
value(<<$[, R/binary>>) -> array(ws(R), []);
value(<<$", R/binary>>) -> string(R, <<>>);
value(<<"true", R/binary>>) -> {true, R};
value(<<"false", R/binary>>) -> {false, R};
value(<<"null", R/binary>>) -> {null, R};
value(<<C, _/binary>> = B) when C =:= $-; C >= $0, C =< $9 -> number(B);
value(B) -> throw({at, B, <<"a value">>}).

object(<<$}, R/binary>>, Acc) when map_size(Acc) =:= 0 -> {Acc, R};
object(<<$", R/binary>>, Acc) ->
    {Key, R1} = string(R, <<>>),
    case ws(R1) of
        <<$:, R2/binary>> ->
            {Value, R3} = value(ws(R2)),
            Acc1 = Acc#{Key => Value},
            case ws(R3) of
                <<$,, R4/binary>> -> object(ws(R4), Acc1);
                <<$}, R4/binary>> -> {Acc1, R4};
                Other -> throw({at, Other, <<"',' or '}'">>})
            end;
        Other ->
            throw({at, Other, <<"':'">>})
    end;
object(B, _) -> throw({at, B, <<"a key">>}).

array(<<$], R/binary>>, []) -> {[], R};
array(B, Acc) ->
    {Value, R1} = value(B),
    case ws(R1) of
        <<$,, R2/binary>> -> array(ws(R2), [Value | Acc]);
        <<$], R2/binary>> -> {lists:reverse([Value | Acc]), R2};
        Other -> throw({at, Other, <<"',' or ']'">>})
    end.

string(<<$", R/binary>>, Acc) -> {Acc, R};
string(<<$\\, E, R/binary>>, Acc) when E =:= $"; E =:= $\\; E =:= $/ -> string(R, <<Acc/binary, E>>);
string(<<$\\, $n, R/binary>>, Acc) -> string(R, <<Acc/binary, $\n>>);
string(<<$\\, $r, R/binary>>, Acc) -> string(R, <<Acc/binary, $\r>>);
string(<<$\\, $t, R/binary>>, Acc) -> string(R, <<Acc/binary, $\t>>);
string(<<$\\, $b, R/binary>>, Acc) -> string(R, <<Acc/binary, $\b>>);
string(<<$\\, $f, R/binary>>, Acc) -> string(R, <<Acc/binary, $\f>>);
string(<<$\\, $u, H:4/binary, $\\, $u, L:4/binary, R/binary>> = B, Acc) ->
    case {hex(H, B), hex(L, B)} of
        {Hi, Lo} when Hi >= 16#D800, Hi =< 16#DBFF, Lo >= 16#DC00, Lo =< 16#DFFF ->
            C = 16#10000 + ((Hi - 16#D800) bsl 10) + (Lo - 16#DC00),
            string(R, <<Acc/binary, C/utf8>>);
        {Hi, _} ->
            string(<<$\\, $u, L/binary, R/binary>>, <<Acc/binary, (codepoint(Hi, B))/utf8>>)
    end;
string(<<$\\, $u, H:4/binary, R/binary>> = B, Acc) ->
    string(R, <<Acc/binary, (codepoint(hex(H, B), B))/utf8>>);
string(<<$\\, _/binary>> = B, _) -> throw({at, B, <<"a valid escape">>});
string(<<C, _/binary>> = B, _) when C < 16#20 -> throw({at, B, <<"no control character in a string">>});
string(<<C/utf8, R/binary>>, Acc) -> string(R, <<Acc/binary, C/utf8>>);
string(B, _) -> throw({at, B, <<"a closed UTF-8 string">>}).

hex(H, B) ->
    try binary_to_integer(H, 16) catch error:badarg -> throw({at, B, <<"four hex digits">>}) end.

codepoint(C, B) when C >= 16#D800, C =< 16#DFFF -> throw({at, B, <<"a whole surrogate pair">>});
codepoint(C, _) -> C.

number(B) ->
    {Text, R} = number_text(B, <<>>),
    try
        case binary:match(Text, [<<".">>, <<"e">>, <<"E">>]) of
            nomatch -> {binary_to_integer(Text), R};
            _ -> {binary_to_float(normal_float(Text)), R}
        end
    catch error:badarg -> throw({at, B, <<"a number">>})
    end.

number_text(<<C, R/binary>>, Acc) when C >= $0, C =< $9; C =:= $-; C =:= $+; C =:= $.; C =:= $e; C =:= $E ->
    number_text(R, <<Acc/binary, C>>);
number_text(R, Acc) -> {Acc, R}.

%% Erlang wants digits on both sides of the point and a point before an exponent.
normal_float(Text) ->
    case binary:match(Text, <<".">>) of
        nomatch ->
            [M, E] = re:split(Text, "[eE]", [{return, binary}]),
            <<M/binary, ".0e", E/binary>>;
        _ ->
            Text
    end.
