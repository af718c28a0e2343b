%% @doc The OTP calls the example needs (a team with Hex packages would use
%% gleam_stdlib and simplifile instead).
-module(gleam_app_ffi).

-export([read_file/1, println/1, bit_array_to_string/1]).

-spec read_file(binary()) -> {ok, binary()} | {error, binary()}.
read_file(Path) ->
    case file:read_file(Path) of
        {ok, Bytes} -> {ok, Bytes};
        {error, Reason} -> {error, iolist_to_binary(io_lib:format("~s: ~p", [Path, Reason]))}
    end.

-spec println(binary()) -> nil.
println(Text) ->
    ok = io:put_chars([Text, $\n]),
    nil.

-spec bit_array_to_string(binary()) -> {ok, binary()} | {error, nil}.
bit_array_to_string(Bytes) ->
    case unicode:characters_to_binary(Bytes) of
        Text when is_binary(Text) -> {ok, Text};
        _ -> {error, nil}
    end.
