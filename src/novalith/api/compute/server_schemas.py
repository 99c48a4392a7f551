"""Request bodies of /servers, validated with pydantic (errors become 400 badRequest)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class NetworkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uuid: str | None = None
    port: str | None = None
    fixed_ip: str | None = None
    tag: str | None = None


class Personality(BaseModel):
    """A file injected into the guest (config drive), up to microversion 2.56."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=255)
    contents: str


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, max_length=255)
    flavorRef: str = Field(min_length=1)
    imageRef: str | None = None
    networks: Literal["auto", "none"] | list[NetworkRequest] | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    min_count: int = Field(default=1, ge=1)
    max_count: int | None = Field(default=None, ge=1)
    return_reservation_id: bool = False
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)
    key_name: str | None = Field(default=None, min_length=1, max_length=255)
    user_data: str | None = Field(default=None, max_length=65535)
    adminPass: str | None = None
    accessIPv4: str | None = None
    accessIPv6: str | None = None
    description: str | None = Field(default=None, max_length=255)
    config_drive: bool | str | None = None
    security_groups: list[dict[str, str]] | None = None
    block_device_mapping_v2: list[dict[str, Any]] | None = None
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(default=None, alias="OS-DCF:diskConfig")
    tags: list[str] | None = None
    personality: list[Personality] | None = None

    @field_validator("flavorRef", mode="before")
    @classmethod
    def _flavor_ref(cls, v: Any) -> Any:
        # Nova's schema takes the flavor reference as a string or an integer.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("The name must not be blank.")
        return v

    @field_validator("metadata")
    @classmethod
    def _meta_sizes(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not 1 <= len(key) <= 255 or len(value) > 255:
                raise ValueError("metadata keys must be 1-255 and values 0-255 characters.")
        return v


class ServerCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    server: ServerCreate
    scheduler_hints: dict[str, Any] | None = Field(default=None, alias="os:scheduler_hints")
    os_scheduler_hints: dict[str, Any] | None = Field(default=None,
                                                      alias="OS-SCH-HNT:scheduler_hints")


class ServerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    accessIPv4: str | None = None
    accessIPv6: str | None = None
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(default=None, alias="OS-DCF:diskConfig")


class ServerUpdateBody(BaseModel):
    server: ServerUpdate
