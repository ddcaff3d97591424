"""Segments (:mod:`hub.segments.saved`): save, list, read, change and delete named rules, evaluate one now,
and read its members as JSON or CSV.

A distributor admin manages segments; an analyst reads them and their members. Members are loyalty ids only
(a campaign tool joins them to its own contact list). Segments are the tenant's: a retailer, a technician
and a manufacturer get 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hub.segments import saved as sg

from ..errors import ERROR_RESPONSES
from ..scope import ADMIN, READERS, Scope, allow
from ..tabular import Format, csv_response

router = APIRouter(prefix="/segments", tags=["segments"], responses=ERROR_RESPONSES)
Reader = Annotated[Scope, Depends(allow(*READERS))]
Admin = Annotated[Scope, Depends(allow(*ADMIN))]
SegmentId = Annotated[str, Path(min_length=1, max_length=64, description="the segment's id")]


class SegmentIn(BaseModel):
    """A new segment: its id (what promotions name in a ``segments`` audience), a name, and its rule
    (see docs/segments.md)."""

    segment: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    rule: dict[str, Any]


class SegmentPatch(BaseModel):
    """What to change; absent fields stay. A new rule is evaluated by the next jobs round (or ``/evaluate``)."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    rule: dict[str, Any] | None = None


class SegmentOut(BaseModel):
    """A segment, and when its member list was last computed (from which ``version`` of its rule)."""

    segment: str
    name: str
    rule: dict[str, Any]
    version: int
    evaluated_version: int | None
    evaluated_at: datetime | None
    member_count: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class EvaluationOut(BaseModel):
    """What an evaluation stored."""

    segment: str
    members: int
    evaluated_at: datetime
    error: str | None


def _out(s: sg.Segment) -> SegmentOut:
    return SegmentOut(
        segment=s.segment,
        name=s.name,
        rule=s.rule,
        version=s.version,
        evaluated_version=s.evaluated_version,
        evaluated_at=s.evaluated_at,
        member_count=s.member_count,
        last_error=s.last_error,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


@router.get("", response_model=list[SegmentOut], summary="The tenant's segments, by id")
def list_segments(scope: Reader) -> list[SegmentOut]:
    return [_out(s) for s in sg.list_segments(scope.conn, scope.tenant)]


@router.post("", response_model=SegmentOut, status_code=status.HTTP_201_CREATED, summary="Save a segment")
def create_segment(body: SegmentIn, scope: Admin) -> SegmentOut:
    return _out(sg.create(scope.conn, scope.tenant, body.segment, body.name, body.rule, now=scope.now))


@router.get("/{segment}", response_model=SegmentOut, summary="One segment")
def get_segment(segment: SegmentId, scope: Reader) -> SegmentOut:
    return _out(sg.get(scope.conn, scope.tenant, segment))


@router.patch("/{segment}", response_model=SegmentOut, summary="Change a segment's name or rule")
def update_segment(segment: SegmentId, body: SegmentPatch, scope: Admin) -> SegmentOut:
    return _out(sg.update(scope.conn, scope.tenant, segment, name=body.name, rule=body.rule, now=scope.now))


@router.delete("/{segment}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a segment and its list")
def delete_segment(segment: SegmentId, scope: Admin) -> Response:
    sg.delete(scope.conn, scope.tenant, segment)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{segment}/evaluate", response_model=EvaluationOut, summary="Compute the segment's members now")
def evaluate_segment(segment: SegmentId, scope: Admin) -> EvaluationOut:
    e = sg.evaluate(scope.conn, scope.tenant, segment, now=scope.now)
    return EvaluationOut(segment=e.segment, members=e.members, evaluated_at=e.evaluated_at, error=e.error)


@router.get(
    "/{segment}/members",
    summary="The members of the last evaluation (loyalty ids), as JSON pages or one CSV document",
    responses={200: {"content": {"text/csv": {}}}},
)
def segment_members(
    segment: SegmentId,
    scope: Reader,
    format: Annotated[Format, Query(description="json (pages) or csv (every member)")] = Format.JSON,
    after: Annotated[
        str | None, Query(min_length=12, max_length=12, description="the last id of the page before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=sg.MAX_MEMBERS_PAGE)] = 1_000,
) -> Response:
    if format is Format.CSV:
        rows = ({"loyalty_id": lid} for lid in sg.iter_members(scope.conn, scope.tenant, segment))
        return csv_response(["loyalty_id"], rows, f"segment-{segment}")
    page = sg.members(scope.conn, scope.tenant, segment, after=after, limit=limit)
    current = sg.get(scope.conn, scope.tenant, segment)
    return JSONResponse(
        {
            "segment": segment,
            "evaluated_at": current.evaluated_at.isoformat() if current.evaluated_at else None,
            "member_count": current.member_count,
            "members": page,
            "next_after": page[-1] if len(page) == limit else None,
        }
    )
