"""idp rp …: relying parties (government portals), for administrators.

ID is an OIDC client_id or a SAML entityID. Client secrets are printed once and never stored.
SAML service providers are registered from their metadata file.
"""
from __future__ import annotations

import json

import click

from idp import audit
from idp.cli import emit, json_option, services
from idp.errors import ValidationError
from idp.oidc import clients
from idp.oidc.clients import AUTH_METHODS, ID_TOKEN_ALGS, SUBJECT_TYPES
from idp.saml import sps

DEFAULT_SCOPES = ("openid", "profile", "email")


@click.group("rp")
def group():
    """Relying parties: the portals that sign citizens in."""


def _record(db, action: str, rp) -> None:
    ids = {k: v for k, v in (("client_id", rp.client_id), ("entity_id", rp.entity_id)) if v}
    audit.record(db, f"rp.{action}", audit.CLI, **ids)


def _read_jwks(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise ValidationError(f"{path} is not a JSON file: {e}") from None


def _read_metadata(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(sps.MAX_METADATA_BYTES + 1)  # one byte more, so that oversize is seen
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror or e}") from None


def _describe(rp) -> dict:
    return sps.describe(rp) if rp.protocol == "saml" else clients.describe(rp)


@group.command("register-oidc")
@click.option("--name", required=True, help="The portal's name, as citizens will see it.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="Exact redirect URI (https; http only on loopback). Repeat for more.")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True,
              help="Exact URI to return to after sign-out. Repeat for more.")
@click.option("--scope", "scopes", multiple=True, help="Scope it may ask for (repeat); "
              f"default: {' '.join(DEFAULT_SCOPES)}.")
@click.option("--auth-method", type=click.Choice(AUTH_METHODS), default="client_secret_basic",
              show_default=True, help="Token endpoint client authentication; none = public client with PKCE.")
@click.option("--jwks-uri", default=None, help="private_key_jwt: where the client publishes its public keys.")
@click.option("--jwks-file", default=None, help="private_key_jwt: a JWK Set file of the client's public keys.")
@click.option("--require-loa2", is_flag=True, help="Require two-step verification for this portal.")
@click.option("--require-loa3", is_flag=True, help="Require a passkey sign-in (urn:idp:loa:3) for this portal.")
@click.option("--allow-national-id", is_flag=True, help="Allow it to receive the national ID number.")
@click.option("--subject-type", type=click.Choice(SUBJECT_TYPES), default="pairwise", show_default=True,
              help="pairwise: a different `sub` for each portal (OIDC Core 1.0 §8).")
@click.option("--id-token-alg", type=click.Choice(ID_TOKEN_ALGS), default="RS256", show_default=True)
@click.option("--introspection", is_flag=True,
              help="A resource server: may introspect any token of this IdP (RFC 7662).")
@click.option("--backchannel-logout-uri", default=None,
              help="Where logout tokens are POSTed when a citizen's IdP session ends (Back-Channel Logout 1.0).")
@click.option("--backchannel-logout-session-required", is_flag=True,
              help="Logout tokens must carry the IdP session's sid.")
@click.option("--ciba", is_flag=True,
              help="May sign citizens in through the national app with CIBA (backchannel authentication, poll mode).")
@json_option
def register_oidc(name, redirect_uris, post_logout_redirect_uris, scopes, auth_method, jwks_uri,
                  jwks_file, require_loa2, require_loa3, allow_national_id, subject_type, id_token_alg, introspection,
                  backchannel_logout_uri, backchannel_logout_session_required, ciba, as_json):
    """Register an OpenID Connect relying party and print its client_id (and secret, once)."""
    if jwks_uri and jwks_file:
        raise ValidationError("give --jwks-uri or --jwks-file, not both")
    jwks = _read_jwks(jwks_file) if jwks_file else None
    with services().db.session() as db:
        rp, secret = clients.register_oidc(
            db, name=name, redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout_redirect_uris,
            scopes=scopes or DEFAULT_SCOPES, auth_method=auth_method, jwks=jwks, jwks_uri=jwks_uri,
            require_loa2=require_loa2, require_loa3=require_loa3, allow_national_id=allow_national_id,
            subject_type=subject_type, id_token_alg=id_token_alg, introspection=introspection,
            backchannel_logout_uri=backchannel_logout_uri,
            backchannel_logout_session_required=backchannel_logout_session_required, ciba=ciba)
        _record(db, "registered", rp)
        db.commit()
        result = clients.describe(rp)
    text = f"registered {rp.name}\nclient_id: {rp.client_id}"
    if secret is not None:
        result["client_secret"] = secret
        text += f"\nclient_secret (shown once): {secret}"
    emit(result, as_json, text)


@group.command("register-saml")
@click.option("--name", required=True, help="The portal's name, as citizens will see it.")
@click.option("--metadata", "metadata_file", required=True, metavar="FILE",
              help="The service provider's SAML 2.0 metadata: one md:EntityDescriptor.")
@click.option("--allow-national-id", is_flag=True, help="Allow it to receive the national ID number.")
@click.option("--require-loa2", is_flag=True, help="Require two-step verification for this portal.")
@click.option("--require-signed-requests", is_flag=True,
              help="Refuse its authentication and logout requests unless signed with a key in its metadata.")
@json_option
def register_saml(name, metadata_file, allow_national_id, require_loa2, require_signed_requests, as_json):
    """Register a SAML 2.0 service provider from its metadata and print its entityID."""
    metadata = _read_metadata(metadata_file)
    with services().db.session() as db:
        rp = sps.register_saml(db, name=name, metadata_xml=metadata, allow_national_id=allow_national_id,
                               require_loa2=require_loa2, require_signed_requests=require_signed_requests)
        _record(db, "registered", rp)
        db.commit()
        result = sps.describe(rp)
    emit(result, as_json, f"registered {rp.name}\nentity_id: {rp.entity_id}")


@group.command("list")
@json_option
def list_(as_json):
    """List every relying party."""
    with services().db.session() as db:
        result = [_describe(rp) for rp in clients.list_all(db)]
    lines = [f"{r['client_id'] or r['entity_id']}  {r['protocol']}  "
             f"{'enabled' if r['enabled'] else 'disabled'}  {r['name']}"
             f"{'  introspection' if r.get('introspection') else ''}"
             f"{'  ciba' if r.get('ciba') else ''}" for r in result]
    emit(result, as_json, "\n".join(lines) or "no relying parties")


@group.command("show")
@click.argument("ident", metavar="ID")
@json_option
def show(ident, as_json):
    """Show a relying party (ID: client_id or entityID)."""
    with services().db.session() as db:
        result = _describe(clients.get(db, ident))
    emit(result, as_json, "\n".join(f"{k}: {v}" for k, v in result.items()))


def _set_enabled(ident: str, enabled: bool, as_json: bool):
    with services().db.session() as db:
        rp = clients.set_enabled(db, ident, enabled)
        _record(db, "enabled" if enabled else "disabled", rp)
        db.commit()
        shown = rp.client_id or rp.entity_id
    emit({"id": shown, "enabled": enabled}, as_json, f"{shown}: {'enabled' if enabled else 'disabled'}")


@group.command("disable")
@click.argument("ident", metavar="ID")
@json_option
def disable(ident, as_json):
    """Disable a relying party: its sign-in requests are refused from now on."""
    _set_enabled(ident, False, as_json)


@group.command("enable")
@click.argument("ident", metavar="ID")
@json_option
def enable(ident, as_json):
    """Enable a relying party again."""
    _set_enabled(ident, True, as_json)


@group.command("rotate-secret")
@click.argument("client_id")
@json_option
def rotate_secret(client_id, as_json):
    """Issue a new client secret (printed once); the old one stops working now."""
    with services().db.session() as db:
        secret = clients.rotate_secret(db, client_id)
        _record(db, "secret_rotated", clients.find_oidc(db, client_id))
        db.commit()
    emit({"client_id": client_id, "client_secret": secret}, as_json,
         f"{client_id}\nclient_secret (shown once): {secret}")


@group.command("remove")
@click.argument("ident", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def remove(ident, yes, as_json):
    """Delete a relying party and the consents given to it."""
    with services().db.session() as db:
        rp = clients.get(db, ident)
        if not yes:
            click.confirm(f"Remove {rp.name} ({ident}) and its consents?", abort=True)
        _record(db, "removed", rp)
        clients.remove(db, ident)
        db.commit()
    emit({"id": ident, "removed": True}, as_json, f"{ident}: removed")
