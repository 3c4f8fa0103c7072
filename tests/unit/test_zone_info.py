"""edgeml.wavelength.zone_info: discovery of Wavelength zones (needs the lab AWS extension)."""

BOS, NYC, MIA = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"


def test_lists_wavelength_zones_even_when_not_opted_in(lab_only, run):
    r = run("zone_info", zone_types=["wavelength-zone"])
    assert not r["changed"]
    names = {z["zone_name"] for z in r["zones"]}
    assert {BOS, NYC, MIA} <= names
    bos = next(z for z in r["zones"] if z["zone_name"] == BOS)
    assert bos["zone_type"] == "wavelength-zone" and bos["group_name"] == "us-east-1-wl1"
    assert bos["parent_zone_name"] == "us-east-1a" and bos["network_border_group"] == BOS
    assert bos["opt_in_status"] in ("opted-in", "not-opted-in", "opting-in")
    assert bos["zone_id"].startswith("use1-wl1-bos")


def test_names_order_missing_and_offerings(lab_only, run):
    before = run("zone_info", names=[MIA, BOS], instance_types=["*"])
    for zone in before["zones"]:  # AWS lists offerings only for zones whose group is opted in
        assert zone["offered_instance_types"] == [] or zone["opt_in_status"] == "opted-in", zone
    run("zone_group", zone_names=[MIA, BOS], wait_timeout=30)
    r = run("zone_info", names=[MIA, "us-east-1-wl1-xxx-wlz-1", BOS], instance_types=["t3.xlarge", "g4dn.2xlarge"])
    assert [z["zone_name"] for z in r["zones"]] == [MIA, BOS]
    assert r["missing"] == ["us-east-1-wl1-xxx-wlz-1"]
    offered = {z["zone_name"]: z["offered_instance_types"] for z in r["zones"]}
    assert offered == {MIA: ["t3.xlarge"], BOS: ["g4dn.2xlarge", "t3.xlarge"]}


def test_regional_zones(run):
    r = run("zone_info", names=["us-east-1a"])
    assert r["zones"][0]["zone_type"] == "availability-zone" and r["missing"] == []
