"""files upload v2: files.getUploadURLExternal, the upload URL itself, files.completeUploadExternal (notes §8)."""

from __future__ import annotations

import json

from bot.emulator import effects
from bot.emulator.common import find_channel, require_member
from bot.emulator.context import ApiError, Args, Host, MethodSpec, method
from bot.emulator.workspace import JSON, File, Message


@method(
    "files.getUploadURLExternal",
    required=("length", "filename"),
    errors=("missing_argument", "alt_txt_too_large", "file_uploads_disabled"),
    scopes=("files:write",),
)
async def files_get_upload_url_external(host: Host, args: Args) -> JSON:
    if not host.workspace.policy.file_uploads:
        raise ApiError("file_uploads_disabled")  # an admin disabled file uploads for the workspace
    length = args.number("length", 0)
    if length <= 0:
        raise ApiError("missing_argument")
    if len(args.text("alt_txt")) > 1000:
        raise ApiError("alt_txt_too_large")
    file = File(id=host.workspace.new_id("F"), filename=args.text("filename"), length=length)
    host.workspace.files[file.id] = file
    return {"upload_url": f"{host.url}/upload/{file.id}", "file_id": file.id}


def _file_refs(args: Args) -> list[JSON]:
    try:
        refs = args.decoded("files")
    except json.JSONDecodeError as exc:
        raise ApiError("invalid_arguments") from exc
    if not isinstance(refs, list) or not refs or not all(isinstance(r, dict) and "id" in r for r in refs):
        raise ApiError("invalid_arguments")
    return refs


@method(
    "files.completeUploadExternal",
    required=("files",),
    errors=("file_not_found", "channel_not_found", "not_in_channel", "channels_limit_exceeded"),
    scopes=("files:write",),
)
async def files_complete_upload_external(host: Host, args: Args) -> JSON:
    ws = host.workspace
    refs = _file_refs(args)
    files: list[File] = []
    for ref in refs:
        file = ws.files.get(str(ref["id"]))
        if file is None:
            raise ApiError("file_not_found")
        file.title = str(ref.get("title") or file.filename)
        files.append(file)
    channel_ids = [c for c in args.text("channels").split(",") if c] or (
        [args.text("channel_id")] if args.has("channel_id") else []
    )
    if len(channel_ids) > 100:
        raise ApiError("channels_limit_exceeded")
    channels = [find_channel(host, cid) for cid in channel_ids]
    for channel in channels:
        require_member(host, channel)
    bot = ws.identity
    for channel in channels:
        for file in files:
            file.channels.append(channel.id)
        message = Message(
            ts=ws.next_ts(),
            channel=channel.id,
            user=bot.user_id,
            text=args.text("initial_comment"),
            bot_id=bot.bot_id,
            app_id=bot.app_id,
            team=ws.team_id,
            thread_ts=args.opt_str("thread_ts"),
            subtype="file_share",
            files=[{"id": f.id, "name": f.filename, "title": f.title, "size": f.length} for f in files],
        )
        effects.store_message(host, channel, message)
    return {"files": [{"id": f.id, "title": f.title} for f in files]}


SPECS: list[MethodSpec] = [files_get_upload_url_external, files_complete_upload_external]
