%% @doc The NATS client protocol as pure functions: encoding the operations
%% tally sends (CONNECT, PING/PONG, SUB, UNSUB, PUB, HPUB) and parsing what
%% the server sends (INFO, MSG, HMSG, PING, PONG, +OK, -ERR) out of a byte
%% stream cut anywhere. No sockets here: tally_nats carries out the effects.
%% See https://docs.nats.io/reference/reference-protocols/nats-protocol.
-module(tally_nats_proto).

-export([connect/1, ping/0, pong/0, sub/2, unsub/1, pub/3, hpub/4, parse/1, headers/1]).

-type headers() :: [{binary(), binary()}].
-type message() :: {info, map()}
                 | ping | pong | ok
                 | {err, binary()}
                 | {msg, Subject :: binary(), Sid :: binary(), ReplyTo :: binary() | none, Payload :: binary()}
                 | {hmsg, Subject :: binary(), Sid :: binary(), ReplyTo :: binary() | none,
                    {Status :: non_neg_integer() | none, headers()}, Payload :: binary()}.
-export_type([headers/0, message/0]).

%% Longest control line accepted from a server before the stream is
%% declared broken (the server's own default max_control_line is 4 KiB).
-define(MAX_CONTROL_LINE, 65536).

%% CONNECT with the options tally uses; Auth is none, {user, U, P} or {token, T}.
-spec connect(#{auth := none | {user, binary(), binary()} | {token, binary()}, name := binary()}) -> iodata().
connect(#{auth := Auth, name := Name}) ->
    Base = #{<<"verbose">> => false, <<"pedantic">> => false, <<"headers">> => true,
             <<"no_responders">> => true, <<"lang">> => <<"erlang">>, <<"version">> => <<"0.1.0">>,
             <<"protocol">> => 1, <<"name">> => Name},
    Opts = case Auth of
               none -> Base;
               {user, U, P} -> Base#{<<"user">> => U, <<"pass">> => P};
               {token, T} -> Base#{<<"auth_token">> => T}
           end,
    [<<"CONNECT ">>, tally_json:encode(Opts), <<"\r\n">>].

-spec ping() -> binary().
ping() -> <<"PING\r\n">>.

-spec pong() -> binary().
pong() -> <<"PONG\r\n">>.

-spec sub(binary(), binary()) -> iodata().
sub(Subject, Sid) -> [<<"SUB ">>, Subject, $\s, Sid, <<"\r\n">>].

-spec unsub(binary()) -> iodata().
unsub(Sid) -> [<<"UNSUB ">>, Sid, <<"\r\n">>].

-spec pub(binary(), binary() | none, iodata()) -> iodata().
pub(Subject, ReplyTo, Payload) ->
    Size = iolist_size(Payload),
    [<<"PUB ">>, Subject, reply_part(ReplyTo), $\s, integer_to_binary(Size), <<"\r\n">>, Payload, <<"\r\n">>].

%% HPUB: headers as NATS/1.0 header block, then the payload.
-spec hpub(binary(), binary() | none, headers(), iodata()) -> iodata().
hpub(Subject, ReplyTo, Headers, Payload) ->
    Block = [<<"NATS/1.0\r\n">>, [[K, <<": ">>, V, <<"\r\n">>] || {K, V} <- Headers], <<"\r\n">>],
    HSize = iolist_size(Block),
    Total = HSize + iolist_size(Payload),
    [<<"HPUB ">>, Subject, reply_part(ReplyTo), $\s, integer_to_binary(HSize), $\s, integer_to_binary(Total),
     <<"\r\n">>, Block, Payload, <<"\r\n">>].

reply_part(none) -> <<>>;
reply_part(ReplyTo) -> [$\s, ReplyTo].

%% Every whole message in Buffer, and the bytes of an unfinished one.
-spec parse(binary()) -> {ok, [message()], binary()} | {error, binary()}.
parse(Buffer) ->
    parse(Buffer, []).

parse(Buffer, Acc) ->
    case binary:match(Buffer, <<"\r\n">>) of
        nomatch when byte_size(Buffer) > ?MAX_CONTROL_LINE ->
            {error, <<"control line over 64 KiB">>};
        nomatch ->
            {ok, lists:reverse(Acc), Buffer};
        {Pos, 2} ->
            <<Line:Pos/binary, "\r\n", Rest/binary>> = Buffer,
            case control(Line, Rest) of
                {error, _} = Error -> Error;
                more -> {ok, lists:reverse(Acc), Buffer};
                {Msg, Rest1} -> parse(Rest1, [Msg | Acc])
            end
    end.

control(Line, Rest) ->
    [Op | Args] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]) ++ [<<>>],
    case {string:uppercase(Op), lists:droplast(Args)} of
        {<<"PING">>, []} -> {ping, Rest};
        {<<"PONG">>, []} -> {pong, Rest};
        {<<"+OK">>, []} -> {ok, Rest};
        {<<"-ERR">>, _} -> {{err, err_text(Line)}, Rest};
        {<<"INFO">>, _} ->
            <<_:4/binary, Json/binary>> = Line,
            case tally_json:decode(Json) of
                {ok, Info} when is_map(Info) -> {{info, Info}, Rest};
                _ -> {error, <<"INFO that is not a JSON object">>}
            end;
        {<<"MSG">>, [Subject, Sid, Size]} -> msg(Subject, Sid, none, Size, Rest);
        {<<"MSG">>, [Subject, Sid, ReplyTo, Size]} -> msg(Subject, Sid, ReplyTo, Size, Rest);
        {<<"HMSG">>, [Subject, Sid, HSize, Size]} -> hmsg(Subject, Sid, none, HSize, Size, Rest);
        {<<"HMSG">>, [Subject, Sid, ReplyTo, HSize, Size]} -> hmsg(Subject, Sid, ReplyTo, HSize, Size, Rest);
        _ -> {error, <<"unknown protocol line: ", (binary:part(Line, 0, min(80, byte_size(Line))))/binary>>}
    end.

err_text(Line) ->
    <<_:4/binary, Text/binary>> = Line,
    string:trim(string:trim(Text), both, "'").

msg(Subject, Sid, ReplyTo, SizeText, Rest) ->
    case payload(SizeText, Rest) of
        {error, _} = Error -> Error;
        more -> more;
        {Payload, Rest1} -> {{msg, Subject, Sid, ReplyTo, Payload}, Rest1}
    end.

hmsg(Subject, Sid, ReplyTo, HSizeText, SizeText, Rest) ->
    case {int(HSizeText), payload(SizeText, Rest)} of
        {_, {error, _} = Error} -> Error;
        {HSize, {All, Rest1}} when is_integer(HSize), HSize =< byte_size(All) ->
            <<Block:HSize/binary, Payload/binary>> = All,
            {{hmsg, Subject, Sid, ReplyTo, headers(Block), Payload}, Rest1};
        {_, more} -> more;
        _ -> {error, <<"HMSG with a bad header size">>}
    end.

payload(SizeText, Rest) ->
    case int(SizeText) of
        Size when is_integer(Size), byte_size(Rest) >= Size + 2 ->
            case Rest of
                <<Payload:Size/binary, "\r\n", Rest1/binary>> -> {Payload, Rest1};
                _ -> {error, <<"payload not followed by CRLF">>}
            end;
        Size when is_integer(Size) -> more;
        _ -> {error, <<"bad payload size">>}
    end.

int(Text) ->
    try binary_to_integer(Text) of N when N >= 0 -> N; _ -> bad catch error:badarg -> bad end.

%% A header block: `NATS/1.0 [Status [Description]]` then `Key: Value` lines.
-spec headers(binary()) -> {non_neg_integer() | none, headers()}.
headers(Block) ->
    [First | Lines] = binary:split(Block, <<"\r\n">>, [global, trim_all]),
    Status = case binary:split(First, <<" ">>, [global, trim_all]) of
                 [_Version, Code | _] -> case int(Code) of bad -> none; N -> N end;
                 _ -> none
             end,
    {Status, [{string:trim(K), string:trim(V)} || L <- Lines, [K, V] <- [binary:split(L, <<":">>)]]}.
