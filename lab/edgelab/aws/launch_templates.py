"""Launch template tags as EC2 keeps them: moto 5.2 copies a template's tags once, at creation, so
DescribeLaunchTemplates never shows tags added or removed later with CreateTags/DeleteTags. Read them live."""

from moto.ec2.models.launch_templates import LaunchTemplate


def install() -> None:
    LaunchTemplate.tags = property(lambda self: self.get_tags(), lambda self, value: None)
