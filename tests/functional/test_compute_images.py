"""The Compute API's read-only image routes (deprecated: 404 from 2.36 on, as in Nova)."""

from __future__ import annotations

from fixtures.cloud import RunningCloud


def test_images_listed_and_shown_until_2_35(cloud: RunningCloud) -> None:
    with cloud.client(version="2.35") as c:
        listed = c.get("/images").json()["images"]
        assert [i["id"] for i in listed] == [cloud.image_id]
        assert set(listed[0]) == {"id", "name", "links"}
        detail = c.get("/images/detail").json()["images"][0]
        assert detail["status"] == "ACTIVE" and detail["name"] == "fake-image"
        shown = c.get(f"/images/{cloud.image_id}")
        assert shown.status_code == 200 and shown.json()["image"]["id"] == cloud.image_id
        assert c.get("/images?name=no-such").json()["images"] == []
        missing = c.get("/images/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404 and "itemNotFound" in missing.json()


def test_images_gone_from_2_36(cloud: RunningCloud) -> None:
    with cloud.client(version="2.36") as c:
        resp = c.get("/images")
        assert resp.status_code == 404 and "itemNotFound" in resp.json()
