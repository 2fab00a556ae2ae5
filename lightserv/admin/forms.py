from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Optional

from lightserv.auth.forms import StrongPassword
from schemas.enums import ROLE

ROLE_LABELS = {r: r.replace("_", " ").capitalize() for r in ROLE}


class RoleForm(FlaskForm):
    username = HiddenField(validators=[DataRequired(), Length(max=32)])
    role = SelectField("Role", choices=[(r, ROLE_LABELS[r]) for r in ROLE], validators=[DataRequired()])
    grant = SubmitField("Grant")
    revoke = SubmitField("Revoke")


class ActiveForm(FlaskForm):
    username = HiddenField(validators=[DataRequired(), Length(max=32)])
    activate = SubmitField("Activate")
    deactivate = SubmitField("Deactivate")


class NewUserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=32)])
    email = EmailField("Email (optional)", validators=[Optional(), Email(check_deliverability=False), Length(max=100)])
    full_name = StringField("Full name", validators=[Optional(), Length(max=100)])
    password = PasswordField(
        "Initial password (optional: leave empty for single sign-on only)",
        validators=[Optional(), StrongPassword()],
    )
    create = SubmitField("Create user")
