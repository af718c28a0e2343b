%% @doc The NATS client protocol as pure functions: encoding the operations
%% tally sends (CONNECT, PING/PONG, SUB, UNSUB, PUB, HPUB) and parsing what
%% the server sends (INFO, MSG, HMSG, PING, PONG, +OK, -ERR) out of a byte
%% stream cut anywhere. No sockets here: tally_nats carries out the effects.
%% See https://docs.nats.io/reference/reference-protocols/nats-protocol.
-module(tally_nats_proto).

-export([connect/1, ping/0, pong/0, sub/2, unsub/1, pub/3, hpub/4, publish_size/2, parse/1, parse/2, frame_size/1,
         headers/1]).

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
%% Largest message accepted from a server when the caller gives no limit.
-define(DEFAULT_MAX_IN, 64 * 1024 * 1024).

%% CONNECT with the options tally uses; Auth is none, {user, U, P} or
%% {token, T}, where P and T may be tally_secret:wrap/1'd.
-spec connect(#{auth := none | {user, binary(), binary() | tally_secret:secret()}
                      | {token, binary() | tally_secret:secret()},
                name := binary(), tls => boolean()}) -> iodata().
connect(#{auth := Auth, name := Name} = Options) ->
    Base = #{<<"verbose">> => false, <<"pedantic">> => false, <<"headers">> => true,
             <<"no_responders">> => true, <<"lang">> => <<"erlang">>, <<"version">> => <<"0.1.0">>,
             <<"protocol">> => 1, <<"name">> => Name, <<"tls_required">> => maps:get(tls, Options, false)},
    Opts = case Auth of
               none -> Base;
               {user, U, P} -> Base#{<<"user">> => U, <<"pass">> => tally_secret:reveal(P)};
               {token, T} -> Base#{<<"auth_token">> => tally_secret:reveal(T)}
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

%% The bytes a publish puts against the server's max_payload: the header
%% block (when there are headers) plus the payload.
-spec publish_size(headers(), iodata()) -> non_neg_integer().
publish_size([], Payload) ->
    iolist_size(Payload);
publish_size(Headers, Payload) ->
    iolist_size([<<"NATS/1.0\r\n">>, [[K, <<": ">>, V, <<"\r\n">>] || {K, V} <- Headers], <<"\r\n">>])
        + iolist_size(Payload).

reply_part(none) -> <<>>;
reply_part(ReplyTo) -> [$\s, ReplyTo].

%% Every whole message in Buffer, and the bytes of an unfinished one; a
%% frame that breaks the protocol is `{error, Why}` (the connection cannot
%% be trusted after it). Messages over MaxIn bytes are refused.
-spec parse(binary()) -> {ok, [message()], binary()} | {error, binary()}.
parse(Buffer) ->
    parse(Buffer, ?DEFAULT_MAX_IN).

-spec parse(binary(), pos_integer()) -> {ok, [message()], binary()} | {error, binary()}.
parse(Buffer, MaxIn) ->
    parse(Buffer, MaxIn, []).

parse(Buffer, MaxIn, Acc) ->
    case binary:match(Buffer, <<"\r\n">>) of
        nomatch when byte_size(Buffer) > ?MAX_CONTROL_LINE ->
            {error, <<"control line over 64 KiB">>};
        nomatch ->
            {ok, lists:reverse(Acc), Buffer};
        {Pos, 2} when Pos > ?MAX_CONTROL_LINE ->
            {error, <<"control line over 64 KiB">>};
        {Pos, 2} ->
            <<Line:Pos/binary, "\r\n", Rest/binary>> = Buffer,
            case safe_control(Line, Rest, MaxIn) of
                {error, _} = Error -> Error;
                more -> {ok, lists:reverse(Acc), Buffer};
                {Msg, Rest1} -> parse(Rest1, MaxIn, [Msg | Acc])
            end
    end.

%% How many bytes the frame at the start of Buffer needs in all, when its
%% control line says (MSG, HMSG); 0 when unknown. A reader holds incoming
%% bytes until it has that many, instead of parsing a big message again
%% for every piece of it that arrives.
-spec frame_size(binary()) -> non_neg_integer().
frame_size(Buffer) ->
    case binary:match(Buffer, <<"\r\n">>) of
        {Pos, 2} ->
            Line = binary:part(Buffer, 0, Pos),
            case catch words(Line) of
                {<<"MSG">>, [_, _, Size]} -> total(Pos, int(Size));
                {<<"MSG">>, [_, _, _, Size]} -> total(Pos, int(Size));
                {<<"HMSG">>, [_, _, _, Size]} -> total(Pos, int(Size));
                {<<"HMSG">>, [_, _, _, _, Size]} -> total(Pos, int(Size));
                _ -> 0
            end;
        nomatch ->
            0
    end.

total(Pos, Size) when is_integer(Size) -> Pos + 2 + Size + 2;
total(_Pos, bad) -> 0.

words(Line) ->
    [Op | Args] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]) ++ [<<>>],
    {string:uppercase(Op), lists:droplast(Args)}.

%% Whatever the bytes, a clear error rather than an exception.
safe_control(Line, Rest, MaxIn) ->
    try control(Line, Rest, MaxIn)
    catch _:_ -> {error, <<"malformed protocol line: ", (excerpt(Line))/binary>>}
    end.

excerpt(Line) ->
    binary:part(Line, 0, min(80, byte_size(Line))).

control(Line, Rest, MaxIn) ->
    case words(Line) of
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
        {<<"MSG">>, [Subject, Sid, Size]} -> msg(Subject, Sid, none, Size, Rest, MaxIn);
        {<<"MSG">>, [Subject, Sid, ReplyTo, Size]} -> msg(Subject, Sid, ReplyTo, Size, Rest, MaxIn);
        {<<"HMSG">>, [Subject, Sid, HSize, Size]} -> hmsg(Subject, Sid, none, HSize, Size, Rest, MaxIn);
        {<<"HMSG">>, [Subject, Sid, ReplyTo, HSize, Size]} -> hmsg(Subject, Sid, ReplyTo, HSize, Size, Rest, MaxIn);
        {Op, _} when Op =:= <<"MSG">>; Op =:= <<"HMSG">> ->
            {error, <<"wrong number of fields: ", (excerpt(Line))/binary>>};
        _ -> {error, <<"unknown protocol line: ", (excerpt(Line))/binary>>}
    end.

err_text(Line) ->
    <<_:4/binary, Text/binary>> = Line,
    string:trim(string:trim(Text), both, "'").

msg(Subject, Sid, ReplyTo, SizeText, Rest, MaxIn) ->
    case payload(SizeText, Rest, MaxIn) of
        {error, _} = Error -> Error;
        more -> more;
        {Payload, Rest1} -> {{msg, Subject, Sid, ReplyTo, Payload}, Rest1}
    end.

%% HMSG: the header block (its size first) is a NATS/1.0 line, header
%% lines and an empty line, all inside the total size.
hmsg(Subject, Sid, ReplyTo, HSizeText, SizeText, Rest, MaxIn) ->
    case {int(HSizeText), int(SizeText)} of
        {HSize, Size} when is_integer(HSize), is_integer(Size), HSize >= 12, HSize =< Size ->
            case payload(SizeText, Rest, MaxIn) of
                {error, _} = Error -> Error;
                more -> more;
                {All, Rest1} ->
                    <<Block:HSize/binary, Payload/binary>> = All,
                    case header_block(Block) of
                        {ok, Headers} -> {{hmsg, Subject, Sid, ReplyTo, Headers, Payload}, Rest1};
                        {error, _} = Error -> Error
                    end
            end;
        _ ->
            {error, <<"HMSG with a bad header size: ", HSizeText/binary, " of ", SizeText/binary>>}
    end.

payload(SizeText, Rest, MaxIn) ->
    case int(SizeText) of
        Size when is_integer(Size), Size > MaxIn ->
            {error, <<"message of ", SizeText/binary, " bytes, over the limit of ", (integer_to_binary(MaxIn))/binary>>};
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

header_block(<<"NATS/", _/binary>> = Block) when byte_size(Block) >= 4 ->
    case binary:part(Block, byte_size(Block) - 4, 4) of
        <<"\r\n\r\n">> -> {ok, headers(Block)};
        _ -> {error, <<"HMSG header block not ended by an empty line">>}
    end;
header_block(_) ->
    {error, <<"HMSG header block does not start with NATS/1.0">>}.

%% A header block: `NATS/1.0 [Status [Description]]` then `Key: Value` lines.
-spec headers(binary()) -> {non_neg_integer() | none, headers()}.
headers(Block) ->
    {First, Lines} = case binary:split(Block, <<"\r\n">>, [global, trim_all]) of
                         [] -> {<<>>, []};
                         [F | Ls] -> {F, Ls}
                     end,
    Status = case binary:split(First, <<" ">>, [global, trim_all]) of
                 [_Version, Code | _] -> case int(Code) of bad -> none; N -> N end;
                 _ -> none
             end,
    {Status, [{string:trim(K), string:trim(V)} || L <- Lines, [K, V] <- [binary:split(L, <<":">>)]]}.
