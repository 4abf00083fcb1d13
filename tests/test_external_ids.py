"""An external id is unique across every lesson, but a taken one never tells whether a lesson
the creator may not see exists: a hidden holder and a visible one get the same answer."""

from conftest import signed_in

SECRET = {"title": "Quokka telemetry contract breached", "visibility": "project",
          "what_happened": "The supplier shipped firmware that leaked launch codes."}
MINE = {"title": "Supplier shipped late", "what_happened": "Firmware came six weeks late."}


def test_a_taken_external_id_answers_the_same_whether_its_holder_is_hidden_or_not(app):
    member = signed_in(app, "contributor", "member@example.org", business_unit="Defence")
    outsider = signed_in(app, "contributor", "outsider@example.org", business_unit="Retail")
    project = member.post("/api/v1/projects", json={"name": "Launch systems",
                                                    "business_unit": "Defence"}).get_json()
    secret = member.post("/api/v1/lessons", json={**SECRET, "project_id": project["id"],
                                                 "external_id": "LLIS-7"}).get_json()
    public = outsider.post("/api/v1/lessons", json={**MINE, "external_id": "LLIS-8"}).get_json()
    assert outsider.get(f"/api/v1/lessons/{secret['id']}").status_code == 404  # hidden from them

    hidden = outsider.post("/api/v1/lessons", json={**MINE, "external_id": "LLIS-7"})
    visible = outsider.post("/api/v1/lessons", json={**MINE, "external_id": "LLIS-8"})
    assert hidden.status_code == visible.status_code == 422
    assert hidden.get_json() == visible.get_json() == {
        "error": "The input is not valid.",
        "fields": {"external_id": "This external id is already in use."}}
    assert outsider.get("/api/v1/lessons").get_json()["total"] == 1  # nothing was saved
    # The form says the same, naming and linking no lesson.
    answers = [outsider.post("/lessons/new", data={**MINE, "kind": "went_wrong",
                                                   "severity": "low", "external_id": taken})
               for taken in ("LLIS-7", "LLIS-8")]
    assert [a.status_code for a in answers] == [422, 422]
    for answer in answers:
        html = answer.get_data(as_text=True)
        assert "This external id is already in use." in html
        assert f"/lessons/{secret['id']}" not in html and f"/lessons/{public['id']}" not in html
    # An edit meets the same check; a free id is still free.
    edited = outsider.patch(f"/api/v1/lessons/{public['id']}", json={"external_id": "LLIS-7"})
    assert edited.status_code == 422 and edited.get_json() == visible.get_json()
    free = outsider.post("/api/v1/lessons", json={**MINE, "external_id": "LLIS-9"})
    assert free.status_code == 201 and free.get_json()["external_id"] == "LLIS-9"
